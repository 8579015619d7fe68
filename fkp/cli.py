"""The `fkp` command: one entry point for fkp's tools (each also runs as ``python -m fkp.<module>``).

    fkp predict photos/ --out results.jsonl       batch prediction over photos, videos and folders
    fkp evaluate --data ../shared/data/ytf68 --label-x-shift -1.3 --split val
    fkp convert SOURCE OUT.parquet [--push-to-hub user/name]
    fkp calibrate framing --kaggle training_keypoints.csv --ytf68 FOLDER
    fkp calibrate detector --data FOLDER
    fkp calibrate keypoints --model DIR --data SOURCE   per-keypoint offsets measured on the training people
    fkp submit --model M --test test.csv --lookup IdLookupTable.csv --out submission.csv
    fkp export MODEL_FOLDER [--data [SOURCE ...]] [--pipeline photo] [--onnx model.onnx]   card, ONNX
    fkp average OUT MODEL MODEL [--weights ...]   the weighted mean of models' weights (a model soup)
    fkp quantize --model DIR                      int8 copy of the network (ONNX Runtime), calibrated on training frames
    fkp jobs train --dataset user/fkp-ytf68 --hub-model-id user/fkp --dry-run   hosted training
    fkp demo [--port 7860]                        the Gradio demo (pip install 'fkp[demo]')
    fkp examples                                  the folder of the example photos shipped with fkp

A problem with the input (a bad data row, a missing file, a wrong option value) is reported as one line,
``fkp COMMAND: error: ...``, with exit status 2; ``--debug`` anywhere on the command line (or
FKP_DEBUG=1) shows the traceback as well.
"""

from __future__ import annotations

import sys

from .errors import FkpError, run_cli

COMMANDS = {
    "predict": "batch prediction over photos, videos and folders, JSON Lines and/or CSV out",
    "evaluate": "RMSE / NME of a model on a data source",
    "convert": "any data source -> parquet in fkp's schema (optionally pushed to the Hub)",
    "calibrate": "'framing' (crop vs Kaggle's labels), 'detector' (detector boxes) or 'keypoints' (a model's offsets)",
    "submit": "Kaggle submission CSV",
    "export": "write a model folder's model card and learning curve; optional ONNX export",
    "average": "one model whose weights are the weighted mean of several models' (a model soup)",
    "quantize": "an int8 copy of a model's network for ONNX Runtime, calibrated on its training frames",
    "jobs": "train on Hugging Face Jobs GPUs ('fkp jobs train --help')",
    "demo": "run the Gradio demo",
    "examples": 'print the folder of the example photos shipped with fkp (fkp predict "$(fkp examples)" ...)',
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: fkp COMMAND [ARGS...] [--debug]   (fkp COMMAND --help for a command's options)", "", "commands:"]
    lines += [f"  {name:{width}s}  {text}" for name, text in COMMANDS.items()]
    lines += ["", "--debug: show the traceback of an error (also FKP_DEBUG=1)"]
    return "\n".join(lines)


def examples(argv: list[str], prog: str = "fkp examples") -> int:
    """Print the installed example photos' folder (one line), for ``fkp predict "$(fkp examples)"``."""
    import argparse

    from . import EXAMPLES

    argparse.ArgumentParser(prog=prog, description=examples.__doc__).parse_args(argv)
    if not EXAMPLES.is_dir():
        raise FkpError(f"the example photos are missing from this installation ({EXAMPLES})")
    print(EXAMPLES)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``fkp COMMAND ARGS...``; an `FkpError` is one line on stderr and exit status 2 (see `run_cli`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if arg != "--debug"), None)
    return run_cli(_run, argv, prog=f"fkp {command}" if command and not command.startswith("-") else "fkp")


def _run(argv: list[str]) -> int:
    """Dispatch to a command's own main."""
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from . import __version__

        print(f"fkp {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    prog = f"fkp {command}"
    if command == "predict":
        from .predict import main as run

        return run(rest, prog)
    if command == "evaluate":
        from .evaluate import main as run
    elif command == "convert":
        from .data.cli import main as data_main

        return data_main(["convert", *rest], prog="fkp") or 0
    elif command == "calibrate":
        if not rest or rest[0] not in ("framing", "detector", "keypoints"):
            print(
                "usage: fkp calibrate {framing,detector,keypoints} ...\n"
                "  framing:  fit the landmark crop on Kaggle's label statistics (--kaggle, --ytf68)\n"
                "  detector: fit the face detector's box -> crop framing on a ytf68-layout folder (--data)\n"
                "  keypoints: a model's per-keypoint offsets, measured on the training people (--model, --data)",
                file=sys.stderr,
            )
            return 2
        if rest[0] == "keypoints":
            from .offsets import main as offsets_main

            return offsets_main(rest[1:], prog="fkp calibrate keypoints") or 0
        if rest[0] == "framing":
            from .data.cli import main as data_main

            return data_main(["calibrate", *rest[1:]], prog="fkp") or 0
        from .data.detector_framing import main as detect_main

        return detect_main(rest[1:], prog="fkp calibrate detector") or 0
    elif command == "submit":
        from .submit import main as run
    elif command == "export":
        from .export import main as run
    elif command == "average":
        from .average import main as run
    elif command == "quantize":
        from .quantize import main as run
    elif command == "jobs":
        from .jobs import main as run
    elif command == "demo":
        from .demo import main as run
    elif command == "examples":
        return examples(rest, prog)
    else:
        print(f"fkp: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return run(rest, prog) or 0


if __name__ == "__main__":
    sys.exit(main())
