"""The recognizer ensemble: members side by side in one ONNX graph, probabilities averaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitdet.errors import UserError
from digitdet.recognize import BACKGROUND, CROP, softmax


def member(tmp_path: Path, seed: int, width: int = 4) -> Path:
    """An untrained recognizer (random weights: its outputs differ from another seed's)."""
    import torch

    from digitdet.recognize_train import build_net, export_onnx

    torch.manual_seed(seed)
    return export_onnx(build_net(width).eval(), tmp_path / f"m{seed}.onnx")


def identity_model(shape: list[int | str]) -> object:
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(path: Path, crops: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: crops})[0]


@pytest.mark.parametrize("seeds", [
    (0, 1),      # two members: the mean of two softmaxes
    (0, 1, 2),   # three
    (3, 3),      # a member twice: the same probabilities as the member alone
])
def test_ensemble_is_the_mean_probability(tmp_path: Path, seeds: tuple[int, ...]) -> None:
    import onnx

    from digitdet.recognize_ensemble import ensemble

    paths = [member(tmp_path, s) for s in seeds]
    out = tmp_path / "ens.onnx"
    onnx.save(ensemble([onnx.load(str(p)) for p in paths]), str(out))
    crops = np.random.default_rng(0).normal(size=(5, 1, CROP, CROP)).astype(np.float32)
    want = np.mean([softmax(run(p, crops)) for p in paths], axis=0)
    got = run(out, crops)
    assert got.shape == (5, BACKGROUND + 1)
    assert np.allclose(softmax(got), want, atol=1e-5)  # what Recognizer reads from it
    assert np.allclose(np.exp(got), want, atol=1e-5)   # logits are log-probabilities
    first = softmax(run(paths[0], crops))
    assert np.allclose(want, first, atol=1e-6) == (len(set(seeds)) == 1)


@pytest.mark.parametrize("shapes, message", [
    ([["n", 1, CROP, CROP]], "two or more"),                         # one member is no ensemble
    ([["n", 1, CROP, CROP], ["n", 1, CROP, CROP]], "expected input"),  # output (N,1,32,32), not (N,11)
    ([["n", 3, CROP, CROP], ["n", 3, CROP, CROP]], "expected input"),  # a colour input
])
def test_ensemble_rejects_what_is_not_a_recognizer(shapes: list, message: str) -> None:
    from digitdet.recognize_ensemble import ensemble

    with pytest.raises(UserError, match=message):
        ensemble([identity_model(s) for s in shapes])


@pytest.mark.parametrize("files, message", [
    (["missing.onnx", "m0.onnx"], "not found"),        # a member that is not there
    (["junk.onnx", "m0.onnx"], "cannot read"),         # a file that is not ONNX
])
def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 files: list[str], message: str) -> None:
    from digitdet.recognize_ensemble import main

    member(tmp_path, 0)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    out = tmp_path / "out.onnx"
    assert main(["--members", *[str(tmp_path / f) for f in files], "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


def test_cli_writes_a_recognizer(tmp_path: Path) -> None:
    from digitdet.recognize import Recognizer
    from digitdet.recognize_ensemble import main

    a, b = member(tmp_path, 0), member(tmp_path, 1)
    out = tmp_path / "sub" / "ens.onnx"
    assert main(["--members", str(a), str(b), "--output", str(out)]) == 0
    image = np.full((64, 64, 3), 255, np.uint8)
    probs = Recognizer(out)(image, np.array([[10, 10, 40, 50]], np.float32))
    assert probs.shape == (1, BACKGROUND + 1) and abs(float(probs.sum()) - 1) < 1e-5


def trained_like_member(tmp_path: Path, seed: int, full_res: bool) -> Path:
    """A recognizer whose batch norms hold non-trivial statistics (as a trained one's), exported."""
    import torch

    from digitdet.recognize_train import build_net, export_onnx

    torch.manual_seed(seed)
    net = build_net(4, full_res)
    for bn in (m for m in net if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-1, 1)  # type: ignore[union-attr]  # tracked: never None here
        bn.running_var.uniform_(0.5, 2)  # type: ignore[union-attr]
        torch.nn.init.uniform_(bn.weight, 0.5, 1.5)
        torch.nn.init.uniform_(bn.bias, -0.5, 0.5)
    return export_onnx(net.eval(), tmp_path / f"t{seed}{'f' if full_res else ''}.onnx")


@pytest.mark.parametrize("members, full_res", [
    ([0], False),         # one recognizer, the stride-2 layout
    ([1], True),          # one full-resolution recognizer
    ([0, 2], True),       # an ensemble of two: both members, in order
])
def test_member_nets_hold_the_files_networks(tmp_path: Path, members: list[int], full_res: bool) -> None:
    # the exported file folds each batch norm into its convolution; member_nets reads them back
    import onnx
    import torch

    from digitdet.recognize_ensemble import ensemble
    from digitdet.recognize_train import member_nets

    paths = [trained_like_member(tmp_path, s, full_res) for s in members]
    model = ensemble([onnx.load(str(p)) for p in paths]) if len(paths) > 1 else onnx.load(str(paths[0]))
    nets = member_nets(model)
    crops = np.random.default_rng(0).normal(size=(6, 1, CROP, CROP)).astype(np.float32)
    assert len(nets) == len(members)
    for net, path in zip(nets, paths, strict=True):
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net)
        with torch.no_grad():
            got = net(torch.from_numpy(crops)).numpy()
        assert np.allclose(got, run(path, crops), atol=1e-4)  # the same network, weight for weight


def test_member_nets_rejects_what_is_not_a_recognizer() -> None:
    from digitdet.recognize_train import member_nets

    with pytest.raises(UserError, match="no recognizer network"):
        member_nets(identity_model(["n", 1, CROP, CROP]))


def test_fine_tuning_starts_from_the_file(tmp_path: Path) -> None:
    # train_net(init=...) trains the given network: at a tiny rate it stays close to the file,
    # at a real one it learns (bar crops: a bar is a 1, no bar is background)
    import onnx
    import torch

    from digitdet.recognize import standardize
    from digitdet.recognize_train import member_nets, train_net
    from test_recognize import bar_crops

    def loss(net: torch.nn.Module) -> float:
        with torch.no_grad():
            logits = net(torch.from_numpy(standardize(x)))
        return float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)))

    path = trained_like_member(tmp_path, 0, False)
    x, y = bar_crops(256, np.random.default_rng(0))
    crops = np.random.default_rng(1).normal(size=(4, 1, CROP, CROP)).astype(np.float32)
    def quiet(*a: object, **k: object) -> None:
        pass

    still = train_net(x, y, 1, 0, batch=32, augment=0.0, log=quiet,
                      init=member_nets(onnx.load(str(path)))[0], lr=1e-7)
    with torch.no_grad():
        assert np.allclose(still(torch.from_numpy(crops)).numpy(), run(path, crops), atol=1e-3)
    learnt = train_net(x, y, 4, 0, batch=32, augment=0.0, log=quiet,
                       init=member_nets(onnx.load(str(path)))[0], lr=3e-3)
    assert loss(learnt) < 0.5 * loss(member_nets(onnx.load(str(path)))[0])


@pytest.mark.parametrize("init, message", [
    ("missing.onnx", "not found"),        # no such file
    ("junk.onnx", "cannot read"),         # not ONNX
])
def test_recognize_train_init_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  init: str, message: str) -> None:
    from digitdet.recognize_train import main

    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert main(["--data", str(tmp_path / "none"), "--init", str(tmp_path / init)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("digitdet.recognize_train: error: ")
