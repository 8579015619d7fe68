"""Export a trained model folder: its model card (README.md + learning_curve.png), optionally with
validation figures from `fkp evaluate`, and optionally an ONNX copy of the network.

    fkp export runs/fkp                                     # card from what training recorded
    fkp export fkp/weights --data ../shared/data/ytf68 --label-x-shift -1.3 --split val
    fkp export runs/fkp --onnx runs/fkp/model.onnx          # + ONNX (pip install 'fkp[onnx]')

The ONNX graph maps (B, 1, 96, 96) float32 images in [0, 1] to the last stack's (B, 15, H, W)
heatmaps; decode them with `fkp.heatmaps.decode` (blur_sigma = the config's sigma) and subtract the
config's `keypoint_offsets` where it has them. `fkp.FaceKeypoints(backend="onnxruntime")` builds the
same graph in memory and does both.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from .options import LABEL_X_SHIFT_HELP, VAL_FRACTION


def main(argv: list[str] | None = None, prog: str = "python -m fkp.export") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "folder", help="a model folder written by train.py (config.json + model.safetensors + its JSON records)"
    )
    parser.add_argument("--data", default=None, help="evaluate on this source and put the figures in the card")
    parser.add_argument(
        "--split", default="val", help="with --data: 'val' (train.py's validation people), 'train', or a named split"
    )
    parser.add_argument(
        "--val-fraction", type=float, default=None, help="with --data: default: the run's --val_fraction"
    )
    parser.add_argument(
        "--label-x-shift", type=float, default=None, help=LABEL_X_SHIFT_HELP + "; default: the run's --label_x_shift"
    )
    parser.add_argument(
        "--notes", default=None, help="a Markdown file whose text goes into the card (e.g. measured speed)"
    )
    parser.add_argument("--onnx", metavar="PATH", default=None, help="also write the network as ONNX")
    args = parser.parse_args(argv)

    from .card import read_record, write_model_card
    from .errors import FkpError
    from .landmarker import FaceKeypoints

    folder = Path(args.folder)
    if not (folder / "config.json").is_file():
        raise FkpError(f"{folder}: not a model folder (no config.json); train.py writes one with --output_dir")
    notes = ""
    if args.notes:
        try:
            notes = Path(args.notes).read_text()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or error
            raise FkpError(f"--notes {args.notes}: cannot read it ({reason})") from None
    run_args = read_record(folder, "training_args.json")
    evaluation = None
    if args.data:
        from .evaluate import evaluate_frames

        shift = run_args.get("label_x_shift", 0.0) if args.label_x_shift is None else args.label_x_shift
        fraction = run_args.get("val_fraction", VAL_FRACTION) if args.val_fraction is None else args.val_fraction
        options = dict(split=args.split, label_x_shift=shift, val_fraction=fraction)
        command = [
            "fkp",
            "evaluate",
            "--model",
            str(folder),
            "--data",
            args.data,
            "--split",
            args.split,
            "--label-x-shift",
            f"{shift:g}",
        ]
        if fraction != VAL_FRACTION:
            command += ["--val-fraction", f"{fraction:g}"]
        evaluation = {
            "command": shlex.join(command),
            "metrics": evaluate_frames(FaceKeypoints(str(folder)), args.data, **options),
            "flip_metrics": evaluate_frames(FaceKeypoints(str(folder), flip_test=True), args.data, **options),
        }
    print(f"wrote {write_model_card(folder, evaluation, notes)}")
    if args.onnx:
        from .model import load_model
        from .runtime import heatmap_onnx_bytes

        Path(args.onnx).write_bytes(heatmap_onnx_bytes(load_model(str(folder))))
        print(f"wrote {args.onnx}")
    return 0


if __name__ == "__main__":
    from .errors import run_cli

    raise SystemExit(run_cli(main, prog="python -m fkp.export"))
