"""Weight averaging of checkpoints (digitdet.soup) on hand-made tensors and tiny torch models."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from digitdet.errors import UserError  # noqa: E402
from digitdet.soup import average_state_dicts, main  # noqa: E402


def state(w: float, steps: int = 3) -> dict:
    return {"w": torch.full((2, 2), w), "bn.num_batches_tracked": torch.tensor(steps)}


@pytest.mark.parametrize("ratios, expected", [
    ([0.5, 0.5], 2.0),    # the mean of 1 and 3
    ([0.75, 0.25], 1.5),  # nearer the first
    ([1.0, 0.0], 1.0),    # all of the first: the first back
])
def test_average_two_states(ratios: list[float], expected: float) -> None:
    out = average_state_dicts([state(1.0, 3), state(3.0, 9)], ratios)
    assert torch.allclose(out["w"], torch.full((2, 2), expected))
    assert int(out["bn.num_batches_tracked"]) == 3  # integer buffers: the first checkpoint's


def test_half_precision_checkpoints_stay_half() -> None:
    half = torch.float16
    a, b = {"w": torch.tensor([1000.0], dtype=half)}, {"w": torch.tensor([1001.0], dtype=half)}
    out = average_state_dicts([a, b], [0.5, 0.5])
    assert out["w"].dtype == half and float(out["w"]) == 1000.5  # 1000.5 is a float16 value


@pytest.mark.parametrize("states, ratios, message", [
    ([state(1.0)], [1.0], "two or more checkpoints"),                             # nothing to mix
    ([state(1.0), state(2.0)], [0.5, 0.6], "sum to 1"),                          # ratios off
    ([state(1.0), state(2.0)], [1.5, -0.5], "non-negative"),                     # a negative ratio
    ([state(1.0), {"v": torch.zeros(2, 2)}], [0.5, 0.5], "another architecture"),  # other names
    ([state(1.0), {"w": torch.zeros(3), "bn.num_batches_tracked": torch.tensor(1)}], [0.5, 0.5],
     "'w' is \\(3,\\), not \\(2, 2\\)"),                                          # other shapes
])
def test_bad_averages(states: list[dict], ratios: list[float], message: str) -> None:
    with pytest.raises(UserError, match=message):
        average_state_dicts(states, ratios)


def test_cli_writes_an_averaged_checkpoint(tmp_path: Path) -> None:
    paths = []
    for k, value in enumerate((0.0, 2.0)):
        net = torch.nn.Linear(2, 1)
        torch.nn.init.constant_(net.weight, value)
        torch.nn.init.constant_(net.bias, value)
        # an ultralytics-style checkpoint: the EMA holds the network after training
        paths.append(tmp_path / f"{k}.pt")
        torch.save({"model": None, "ema": net, "optimizer": {"lr": 1}, "epoch": k}, paths[-1])
    out = tmp_path / "soup" / "s.pt"
    assert main(["--weights", *map(str, paths), "--output", str(out)]) == 0
    ckpt = torch.load(out, weights_only=False)
    assert torch.allclose(ckpt["model"].weight, torch.ones(1, 2))
    assert float(ckpt["model"].bias.detach()) == 1.0
    assert ckpt["ema"] is None and ckpt["optimizer"] is None and ckpt["epoch"] == 0
    assert ckpt["soup"]["ratios"] == [0.5, 0.5]


@pytest.mark.parametrize("make, message", [
    (lambda p: [str(p / "none.pt"), str(p / "none.pt")], "not found"),  # missing file
    (lambda p: (torch.save({"x": 1}, p / "x.pt"), [str(p / "x.pt")] * 2)[1],
     "not an ultralytics checkpoint"),                                  # some other pickle
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          make: object, message: str) -> None:
    weights = make(tmp_path)  # type: ignore[operator]
    assert main(["--weights", *weights, "--output", str(tmp_path / "o.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("digitdet.soup: error:") and message in err and "\n" not in err
    assert not (tmp_path / "o.pt").exists()
