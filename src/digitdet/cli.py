"""The ``digitdet`` command: ``digitdet <command> [args]``, each command one module's ``main``
(detect, serve, synth, train, export, val, bench, loadtest, paintset, stickset, scanset,
robustset, photoset, soup, negatives, recognize-train, recognize-ensemble, refine-train)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {"detect": "digitdet.detect", "serve": "digitdet.serve", "synth": "digitdet.synth.__main__",
            "train": "digitdet.train", "export": "digitdet.export", "val": "digitdet.val",
            "bench": "digitdet.bench", "loadtest": "digitdet.loadtest", "paintset": "digitdet.paintset",
            "stickset": "digitdet.stickset", "scanset": "digitdet.scanset",
            "robustset": "digitdet.robustset", "photoset": "digitdet.photoset", "soup": "digitdet.soup",
            "negatives": "digitdet.negatives",
            "recognize-train": "digitdet.recognize_train",
            "recognize-ensemble": "digitdet.recognize_ensemble", "refine-train": "digitdet.refine_train"}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        usage = "usage: digitdet {" + ",".join(COMMANDS) + "} [options]"
        if args and args[0] not in ("-h", "--help"):
            print(f"digitdet: error: unknown command '{args[0]}'\n{usage}", file=sys.stderr)
            return 2
        print(usage)
        return 0
    module = importlib.import_module(COMMANDS[args[0]])
    return int(module.main(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
