"""`make train` passes its variables through to the train CLI, `make judge` runs the judging
commands for its candidate (dry runs, nothing is executed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def make_lines(target: str, *variables: str) -> list[str]:
    """The commands ``make -n`` would run for ``target``, continuation lines joined."""
    out = subprocess.run(["make", "-n", "-s", target, *variables], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return [" ".join(x.split()) for x in out.replace("\\\n", " ").splitlines()]


def train_command(*variables: str) -> str:
    """The ``python -m digitdet.train`` line ``make -n train`` would run, joined into one line."""
    (line,) = [x for x in make_lines("train", *variables) if "-m digitdet.train" in x]
    return line


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


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("variables, onnx, exported", [
    # a .pt candidate is exported under runs/judge/NAME.onnx, then judged from there
    (("WEIGHTS=cand.pt", "NAME=c1"), "runs/judge/c1.onnx", True),
    # an .onnx candidate is judged as it is, nothing exported
    (("WEIGHTS=cand.onnx", "NAME=c2"), "cand.onnx", False),
    # ARGS go to both val runs: here the detector judged with the shipped recognizer
    (("WEIGHTS=cand.onnx", "NAME=c3", "ARGS=--recognizer rec.onnx"), "cand.onnx", False),
])
def test_make_judge_commands(variables: tuple[str, ...], onnx: str, exported: bool) -> None:
    lines = make_lines("judge", *variables)
    name = variables[1].removeprefix("NAME=")
    exports = [x for x in lines if "-m digitdet.export" in x]
    assert exports == ([f".venv/bin/python -m digitdet.export --weights cand.pt --output {onnx}"]
                       if exported else [])
    vals = [x for x in lines if "-m digitdet.val" in x]
    # make val's lines (test split, fonts, MNIST and paint if MNIST is found), then the larger font sample
    assert len(vals) == 2 and all(f"--weights {onnx}" in x for x in vals)
    assert f"--save-json runs/val/{name}/metrics.json" in vals[0] and "--fonts" in vals[0]
    assert "--fonts-seed 5 --fonts-per-font 60" in vals[1]
    assert f"--save-json runs/val/{name}-big/metrics.json" in vals[1]
    args = [v.removeprefix("ARGS=") for v in variables if v.startswith("ARGS=")]
    assert all(x.endswith(args[0]) for x in vals) if args else "--recognizer" not in " ".join(vals)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_judge_needs_weights() -> None:
    out = subprocess.run(["make", "-n", "judge"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and "judge needs WEIGHTS=" in out.stderr
