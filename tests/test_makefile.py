"""`make train` passes its variables through to the train CLI (a dry run, nothing is executed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def train_command(*variables: str) -> str:
    """The ``python -m digitdet.train`` line ``make -n train`` would run, joined into one line."""
    out = subprocess.run(["make", "-n", "-s", "train", *variables], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    lines = out.replace("\\\n", " ").splitlines()
    (line,) = [x for x in lines if "-m digitdet.train" in x]
    return " ".join(line.split())


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("variables, present, absent", [
    # no SET: no --set flag at all (ultralytics gets only the profile)
    ((), [], ["--set"]),
    # SET's KEY=VALUE pairs reach train's --set as separate arguments
    (("SET=lr0=0.001 close_mosaic=0",), ["--set lr0=0.001 close_mosaic=0"], []),
    # the other variables still land on their own flags next to it
    (("SET=mosaic=0.5", "TIME=0.5", "WEIGHTS=w.pt", "CFG=c.yaml"),
     ["--set mosaic=0.5", "--time 0.5", "--weights w.pt", "--cfg c.yaml"], ["--resume"]),
])
def test_make_train_flags(variables: tuple[str, ...], present: list[str], absent: list[str]) -> None:
    cmd = train_command(*variables)
    for flag in present:
        assert flag in cmd
    for flag in absent:
        assert flag not in cmd
