"""Average several recognizers (:mod:`digitdet.recognize`) into one ONNX file.

Usage:
    python -m digitdet.recognize_ensemble --members a.onnx b.onnx --output rec.onnx

Recognizers trained on different scenes make different mistakes; the mean of their
probabilities reads crops better than either (docs/training-log.md, "Stage 11 + recognizer
r7"). The output is one
recognizer like its members, so :class:`~digitdet.recognize.Recognizer` and ``--recognizer`` take
it as they are: input ``crops (N, 1, 32, 32)``, output ``logits (N, 11)``, here the log of the
members' mean probability (its softmax is that mean). One ONNX Runtime call runs every member;
the cost is the sum of theirs. Needs the ``onnx`` package (the ``train`` extra).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from digitdet.errors import UserError, error_exit
from digitdet.recognize import BACKGROUND, CROP

INPUT, OUTPUT = "crops", "logits"


def _inputs(graph: Any) -> list[Any]:
    """A graph's real inputs (an exporter may list initializers as inputs too)."""
    weights = {t.name for t in graph.initializer}
    return [i for i in graph.input if i.name not in weights]


def read_model(path: Path, label: str) -> Any:
    """The ``onnx.ModelProto`` at ``path`` (needs the ``onnx`` package); :class:`UserError`
    "``label`` ``path`` not found" when there is no file, or "cannot read" when it is not ONNX."""
    import onnx

    if not path.is_file():
        raise UserError(f"{label} {path} not found")
    try:
        return onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError and others for a bad file
        raise UserError(f"cannot read {path} as ONNX: {str(exc).splitlines()[0][:200]}") from None


def _check_member(model: Any, name: str) -> None:
    """Raise :class:`UserError` unless ``model`` has one ``(N, 1, 32, 32)`` input and one
    ``(N, 11)`` output, as ``recognize_train`` writes."""
    def dims(value: Any) -> list[int | str]:
        return [d.dim_value or d.dim_param for d in value.type.tensor_type.shape.dim]

    graph = model.graph
    inputs = _inputs(graph)
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UserError(f"{name}: a recognizer has one input and one output, got "
                        f"{len(inputs)} and {len(graph.output)}")
    shape_in, shape_out = dims(inputs[0])[1:], dims(graph.output[0])[1:]
    if shape_in != [1, CROP, CROP] or shape_out != [BACKGROUND + 1]:
        raise UserError(f"{name}: expected input (N, 1, {CROP}, {CROP}) and output "
                        f"(N, {BACKGROUND + 1}), got (N, {shape_in}) and (N, {shape_out})")


def ensemble(members: list[Any], names: list[str] | None = None) -> Any:
    """One ``onnx.ModelProto`` whose ``logits`` are ``log(mean_k softmax(member_k(crops)))``.

    ``members`` are recognizer ``ModelProto`` s (two or more; checked as :func:`_check_member`),
    their graphs copied side by side with the prefixes ``m0_``, ``m1_``, ... and the one input
    ``crops`` shared.
    """
    import onnx
    from onnx import TensorProto, compose, helper

    names = names or [f"member {k}" for k in range(len(members))]
    if len(members) < 2:
        raise UserError(f"an ensemble needs two or more recognizers, got {len(members)}")
    nodes, inits, probs = [], [], []
    for k, (model, name) in enumerate(zip(members, names, strict=True)):
        _check_member(model, name)
        prefixed = compose.add_prefix(model, f"m{k}_")
        graph = prefixed.graph
        own_in = _inputs(graph)[0].name
        for node in graph.node:
            node.input[:] = [INPUT if x == own_in else x for x in node.input]
            nodes.append(node)
        inits.extend(graph.initializer)
        prob = f"m{k}_prob"
        nodes.append(helper.make_node("Softmax", [graph.output[0].name], [prob], axis=1))
        probs.append(prob)
    inits.append(helper.make_tensor("inv_n", TensorProto.FLOAT, [], [1.0 / len(members)]))
    nodes += [helper.make_node("Sum", probs, ["prob_sum"]),
              helper.make_node("Mul", ["prob_sum", "inv_n"], ["prob_mean"]),
              helper.make_node("Log", ["prob_mean"], [OUTPUT])]
    graph = helper.make_graph(
        nodes, "recognizer_ensemble",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["n", 1, CROP, CROP])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["n", BACKGROUND + 1])],
        inits)
    opset = max(max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=13)
                for m in members)
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                            producer_name="digitdet.recognize_ensemble")
    out.ir_version = max(m.ir_version for m in members)
    onnx.checker.check_model(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.recognize_ensemble", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", nargs="+", required=True, help="recognizer ONNX files (two or more)")
    p.add_argument("--output", required=True, help="the averaged recognizer to write (.onnx)")
    args = p.parse_args(argv)
    try:
        try:
            import onnx
        except ImportError:
            raise UserError("averaging recognizers needs onnx: pip install 'digitdet[train]'"
                            ) from None
        members = [read_model(path, "recognizer") for path in map(Path, args.members)]
        model = ensemble(members, [str(m) for m in args.members])
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(out))
    except (UserError, OSError) as exc:  # OSError: an output that cannot be written
        return error_exit("digitdet.recognize_ensemble", exc)
    print(f"wrote {out} (the mean of {len(members)} recognizers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
