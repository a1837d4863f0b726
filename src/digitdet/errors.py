"""Errors a user can cause: the CLIs print their message as one line and exit with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input from the user (path, config key, device...): reported as one line, exit 2."""


def closest(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' hint for a misspelt ``word``, or '' when nothing is close."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f" (did you mean '{match[0]}'?)" if match else ""
