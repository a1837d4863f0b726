"""Average the weights of checkpoints fine-tuned from one model (a "model soup", as in WiSE-FT).

Usage:
    python -m digitdet.soup --weights a.pt b.pt --output soup.pt              # the mean
    python -m digitdet.soup --weights release.pt finetuned.pt --ratio 0.7 0.3 --output soup.pt

Fine-tuning a release on synthetic scenes moves it toward those scenes; averaging the fine-tuned
weights with the release's keeps much of the gain while holding on to what the release read well
(Wortsman et al., "Robust fine-tuning of zero-shot models", 2022); the stage-9 release is such an
average (docs/training-log.md). Every checkpoint must have the same architecture (the same
parameter names and shapes). Floating-point parameters and buffers (batch-norm statistics too)
are averaged in float32; integer buffers come from the first checkpoint. The output is a plain
ultralytics checkpoint of the first one's kind (``model`` set, no optimizer), ready for ``export``
or ``make ship``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from digitdet.errors import UserError, error_exit


def average_state_dicts(states: list[dict[str, Any]], ratios: list[float]) -> dict[str, Any]:
    """``sum(r * state)`` over float tensors, the first state's value elsewhere.

    ``states`` are ``state_dict()`` mappings of one architecture (torch tensors); ``ratios`` are
    as many non-negative weights summing to 1. Raises :class:`UserError` on a name or shape
    mismatch, naming the first offending tensor.
    """
    if len(states) != len(ratios) or len(states) < 2:
        raise UserError(f"need two or more checkpoints and one ratio each, got {len(states)} "
                        f"checkpoints and {len(ratios)} ratios")
    if any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise UserError(f"ratios must be non-negative and sum to 1, got {ratios}")
    first = states[0]
    for k, other in enumerate(states[1:], start=2):
        if set(other) != set(first):
            name = sorted(set(other) ^ set(first))[0]
            raise UserError(f"checkpoint {k} is another architecture: '{name}' is not in both")
        for name, t in first.items():
            if tuple(other[name].shape) != tuple(t.shape):
                raise UserError(f"checkpoint {k} is another architecture: '{name}' is "
                                f"{tuple(other[name].shape)}, not {tuple(t.shape)}")
    out: dict[str, Any] = {}
    for name, t in first.items():
        if t.is_floating_point():
            total = sum(r * s[name].float() for r, s in zip(ratios, states, strict=True))
            out[name] = total.to(t.dtype) if t.dtype != total.dtype else total
        else:
            out[name] = t.clone()
    return out


def _model(ckpt: Any, path: Path) -> Any:
    """The network of an ultralytics checkpoint: its EMA when there is one, else ``model``."""
    model = None
    if isinstance(ckpt, dict):
        model = ckpt.get("ema") if ckpt.get("ema") is not None else ckpt.get("model")
    if model is None or not hasattr(model, "state_dict"):
        raise UserError(f"{path} is not an ultralytics checkpoint (no 'model' or 'ema' in it)")
    return model


def make_soup(weights: list[Path], ratios: list[float], output: Path) -> Path:
    """Write the weighted average of ``weights`` to ``output``; returns ``output``."""
    import torch

    for p in weights:
        if not p.is_file():
            raise UserError(f"weights {p} not found")
    ckpts = [torch.load(p, map_location="cpu", weights_only=False) for p in weights]
    models = [_model(c, p).float() for c, p in zip(ckpts, weights, strict=True)]
    states = [m.state_dict() for m in models]
    models[0].load_state_dict(average_state_dicts(states, ratios))
    ckpt = dict(ckpts[0])
    ckpt.update(model=models[0], ema=None, optimizer=None, updates=None)
    ckpt["soup"] = {"weights": [str(p) for p in weights], "ratios": ratios}
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, output)
    return output


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.soup", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", nargs="+", required=True, help="two or more .pt checkpoints")
    p.add_argument("--ratio", nargs="+", type=float, default=None,
                   help="one weight per checkpoint, summing to 1 (default: equal)")
    p.add_argument("--output", required=True)
    args = p.parse_args(argv)
    os.environ["YOLO_OFFLINE"] = "1"
    weights = [Path(w) for w in args.weights]
    ratios = args.ratio or [1.0 / len(weights)] * len(weights)
    try:
        out = make_soup(weights, ratios, Path(args.output))
    except (UserError, OSError) as exc:  # OSError: an output that cannot be written
        return error_exit("digitdet.soup", exc)
    print(f"wrote {out}: " + " + ".join(f"{r:g} x {w}" for r, w in zip(ratios, weights, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
