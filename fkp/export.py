"""Export a trained model folder: its model card (README.md + learning_curve.png), optionally with
validation figures from `fkp evaluate` for each data source, and optionally an ONNX copy of the network.

    fkp export runs/fkp                                     # card from what training recorded
    fkp export fkp/weights --data ../shared/data/ytf68 --label-x-shift -1.3 --split val
    fkp export runs/fkp --data --pipeline photo             # the run's own sources, frames and whole photos
    fkp export runs/fkp --data ../shared/data/ytf68 ../shared/data/helen_afw68 \\
        --label-x-shift -1.3 0 --label-correction ytf68 none --pipeline photo
    fkp export runs/fkp --onnx runs/fkp/model.onnx          # + ONNX (pip install 'fkp[onnx]')

Each source is evaluated on its own (`--split val`: the rows train.py held out of it) with and without
flip test, and with ``--pipeline photo`` also through the whole-photo pipeline (the default face
detector, crop and model; ytf68-layout folders), each figure with the `fkp evaluate` command that
gives it. ``--label-x-shift`` and ``--label-correction`` take one value or one per source; by default
each source gets the values the run read it with (training_args.json).

The ONNX graph maps (B, 1, 96, 96) float32 images in [0, 1] to the last stack's (B, 15, H, W)
heatmaps; decode them with `fkp.heatmaps.decode` (blur_sigma = the config's sigma) and subtract the
config's `keypoint_offsets` where it has them. `fkp.FaceKeypoints(backend="onnxruntime")` builds the
same graph in memory and does both.
"""

from __future__ import annotations

import argparse
import copy
import shlex
from pathlib import Path

from .options import LABEL_X_SHIFT_HELP, VAL_FRACTION


def choose_sources(
    recorded: list[dict], data: list[str], shifts: list[float] | None = None, corrections: list[str] | None = None
) -> list[dict]:
    """The sources to evaluate, as `fkp.card.run_sources` gives them: ``data`` (empty: the run's own
    ``recorded`` sources) with ``shifts`` / ``corrections`` (one value or one per source; None: the values
    the run read that source with, or the run's one value when it read all its sources alike). A
    ytf68-layout folder of the run keeps the crop the run read it with (`fkp.data.ytf68.read_ytf68`); any
    other source (a converted copy, a Hub id, another folder) the labels'."""
    from .data import is_ytf68, source_name
    from .errors import FkpError
    from .options import per_source

    if not data:
        if not recorded:
            raise FkpError("--data: the run recorded no --dataset; name the sources to evaluate on")
        data = [source["data"] for source in recorded]
    for flag, values in (("--label-x-shift", shifts), ("--label-correction", corrections)):
        if values is not None and len(values) not in (1, len(data)):
            raise FkpError(f"{flag}: give one value, or one per --data source ({len(data)}), not {len(values)}")

    def default(source: str, key: str):
        same = [s[key] for s in recorded if s["data"] == source or s["name"] == source_name(source)]
        if same:
            return same[0]
        if len({s[key] for s in recorded}) <= 1:
            return recorded[0][key] if recorded else {"label_x_shift": 0.0, "label_correction": "none"}[key]
        flag = "--" + key.replace("_", "-")
        raise FkpError(
            f"{flag}: {source} is none of the run's sources ({', '.join(s['name'] for s in recorded)}), which "
            f"were read with different {flag} values; give {flag} for it"
        )

    shifts = per_source(shifts, len(data)) if shifts is not None else [default(d, "label_x_shift") for d in data]
    corrections = (
        per_source(corrections, len(data))
        if corrections is not None
        else [default(d, "label_correction") for d in data]
    )

    def crop(source: str) -> str:  # only a folder of photos can be cut where the detector puts the faces
        same = [s.get("crop", "labels") for s in recorded if s["data"] == source or s["name"] == source_name(source)]
        return same[0] if same and is_ytf68(source) else "labels"

    return [
        {"data": d, "name": source_name(d), "label_x_shift": float(shift), "label_correction": fix, "crop": crop(d)}
        for d, shift, fix in zip(data, shifts, corrections)
    ]


def add_label_arguments(parser: argparse.ArgumentParser) -> None:
    """--label-x-shift and --label-correction, whose None default means `choose_sources`' per-source choice."""
    parser.add_argument(
        "--label-x-shift",
        type=float,
        nargs="+",
        default=None,
        help=LABEL_X_SHIFT_HELP + "; one, or one per --data source; default: what the run read each source with",
    )
    parser.add_argument(
        "--label-correction",
        nargs="+",
        default=None,
        help="'none', 'ytf68' or a JSON file (see fkp evaluate); one, or one per --data source; "
        "default: what the run read each source with",
    )


def evaluate_command(folder: str, source: dict, split: str, val_fraction: float, *extra: str) -> str:
    """The `fkp evaluate` command line that gives one source's figures (``extra``: e.g. "--flip-test")."""
    command = ["fkp", "evaluate", "--model", folder]
    if "--pipeline" in extra:  # read as `fkp evaluate --pipeline photo --data ...`
        index = extra.index("--pipeline")
        command += extra[index : index + 2]
        extra = extra[:index] + extra[index + 2 :]
    command += ["--data", source["data"], "--split", split, "--label-x-shift", f"{source['label_x_shift']:g}"]
    if source["label_correction"] != "none":
        command += ["--label-correction", source["label_correction"]]
    if source.get("crop", "labels") != "labels" and "--pipeline" not in command:
        command += ["--crop", source["crop"]]
    if val_fraction != VAL_FRACTION:
        command += ["--val-fraction", f"{val_fraction:g}"]
    return shlex.join([*command, *extra])


def evaluate_sources(
    folder: str, sources: list[dict], split: str = "val", val_fraction: float = VAL_FRACTION, photo: bool = False
) -> dict:
    """Each source's figures for the model card ({"sources": [...]}, see `fkp.card.write_model_card`):
    the frame pipeline without and with flip test, and with ``photo`` the whole-photo pipeline (default
    detector), each with its `fkp evaluate` command. Every source's data is read before any evaluation,
    so bad data is reported at once."""
    from .errors import FkpError
    from .evaluate import evaluate_frames, evaluate_photos, load_frames
    from .landmarker import FaceKeypoints

    if photo:
        for source in sources:
            if not Path(source["data"]).is_dir():
                raise FkpError(f"--pipeline photo: {source['data']} is not a ytf68-layout folder of photos")

    def options(source: dict) -> dict:
        fix = source["label_correction"]
        return dict(
            split=split,
            label_x_shift=source["label_x_shift"],
            val_fraction=val_fraction,
            label_correction=None if fix == "none" else fix,
            crop=source.get("crop", "labels"),
        )

    frames = [load_frames(source["data"], **options(source)) for source in sources]
    predictor = FaceKeypoints(Path(folder))  # a Path: this folder, even one named like a shipped model
    flipped = copy.copy(predictor)  # the same network, flip test on
    flipped.flip_test = True
    entries = []
    for source, loaded in zip(sources, frames):
        entry = {
            **source,
            "command": evaluate_command(folder, source, split, val_fraction),
            "metrics": evaluate_frames(predictor, source["data"], frames=loaded, **options(source)),
            "flip_metrics": evaluate_frames(flipped, source["data"], frames=loaded, **options(source)),
        }
        m, f = entry["metrics"], entry["flip_metrics"]
        report = (
            f"{source['name']}: RMSE {m['rmse']:.3f} px, NME {m['nme']:.4f} (flip test {f['rmse']:.3f}, {f['nme']:.4f})"
        )
        if photo:
            photo_options = {key: value for key, value in options(source).items() if key != "crop"}
            photos = evaluate_photos(predictor, source["data"], None, **photo_options)
            entry["photo"] = {
                "command": evaluate_command(folder, source, split, val_fraction, "--pipeline", "photo"),
                "metrics": photos,
            }
            report += f"; whole photos NME {photos['nme']:.4f}, {photos['n_missed']} of {photos['n_photos']} missed"
        print(report, flush=True)
        entries.append(entry)
    return {"sources": entries}


def main(argv: list[str] | None = None, prog: str = "python -m fkp.export") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "folder", help="a model folder written by train.py (config.json + model.safetensors + its JSON records)"
    )
    parser.add_argument(
        "--data",
        nargs="*",
        default=None,
        help="evaluate on these sources and put each one's figures in the card; --data alone: the run's own sources",
    )
    parser.add_argument(
        "--split", default="val", help="with --data: 'val' (train.py's validation people), 'train', or a named split"
    )
    parser.add_argument(
        "--val-fraction", type=float, default=None, help="with --data: default: the run's --val_fraction"
    )
    add_label_arguments(parser)
    parser.add_argument(
        "--pipeline",
        choices=["frame", "photo"],
        default="frame",
        help="with --data: 'photo' adds each source's whole-photo figures (default detector, crop, model; NME and "
        "faces missed) to the 96x96-frame figures; ytf68-layout folders",
    )
    parser.add_argument(
        "--notes", default=None, help="a Markdown file whose text goes into the card (e.g. measured speed)"
    )
    parser.add_argument(
        "--summary",
        default=None,
        help="a Markdown file whose text goes right under the card's title (e.g. which of several models this is)",
    )
    parser.add_argument("--onnx", metavar="PATH", default=None, help="also write the network as ONNX")
    args = parser.parse_args(argv)

    from .card import read_record, run_sources, write_model_card
    from .errors import FkpError

    folder = Path(args.folder)
    if not (folder / "config.json").is_file():
        raise FkpError(f"{folder}: not a model folder (no config.json); train.py writes one with --output_dir")
    texts = {}
    for option, path in (("--notes", args.notes), ("--summary", args.summary)):
        try:
            texts[option] = Path(path).read_text() if path else ""
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or error
            raise FkpError(f"{option} {path}: cannot read it ({reason})") from None
    run_args = read_record(folder, "training_args.json")
    evaluation = None
    if args.data is not None:
        sources = choose_sources(run_sources(run_args), args.data, args.label_x_shift, args.label_correction)
        fraction = run_args.get("val_fraction", VAL_FRACTION) if args.val_fraction is None else args.val_fraction
        evaluation = evaluate_sources(str(folder), sources, args.split, fraction, photo=args.pipeline == "photo")
    print(f"wrote {write_model_card(folder, evaluation, texts['--notes'], intro=texts['--summary'])}")
    if args.onnx:
        from .model import load_model
        from .runtime import heatmap_onnx_bytes

        Path(args.onnx).write_bytes(heatmap_onnx_bytes(load_model(folder)))
        print(f"wrote {args.onnx}")
    return 0


if __name__ == "__main__":
    from .errors import run_cli

    raise SystemExit(run_cli(main, prog="python -m fkp.export"))
