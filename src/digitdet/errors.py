"""Errors a user can cause: the CLIs print their message as one line and exit with code 2."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from pathlib import Path


class UserError(Exception):
    """Bad input from the user (path, config key, device...): reported as one line, exit 2."""


def closest(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' hint for a misspelt ``word``, or '' when nothing is close."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f" (did you mean '{match[0]}'?)" if match else ""


def make_folder(path: Path, what: str = "") -> None:
    """``mkdir -p path``; a folder that cannot be made raises :class:`UserError`
    ``cannot create <what><path>: <reason>``, before any work whose output would go there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {what}{path}: {exc.strerror or exc}") from None


def os_error_line(exc: OSError) -> str:
    """An ``OSError`` as one line for a CLI: ``PATH: reason`` (``No such file or directory``),
    without Python's ``[Errno N]``; its own text when it names no file."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason


def error_exit(prog: str, exc: Exception) -> int:
    """Print ``exc`` on stderr as the one line ``prog: error: ...`` (an ``OSError`` as
    :func:`os_error_line`) and return the CLIs' bad-input exit code, 2."""
    text = os_error_line(exc) if isinstance(exc, OSError) else str(exc)
    print(f"{prog}: error: {text}", file=sys.stderr)
    return 2
