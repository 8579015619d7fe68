"""Which teachers to distil from? Each model, and the ensemble of all of them, labelling each source's
validation frames exactly as `train.py --teacher` labels the training frames (`fkp.distill`: the mean
over the teachers of each one's flip-test keypoints, calibrated offsets subtracted).

    python benchmarks/teachers.py --model runs/t96 runs/t128
    python benchmarks/teachers.py --model runs/t96 runs/t128 --data ../shared/data/helen_afw68

A student learns at best what its teachers' labels say, so the ensemble row is the figure to beat.
Calibrate each model first (`fkp calibrate keypoints --model DIR`), as `fkp evaluate` figures are.
The sources, their label shifts, corrections and crops (`train.py --crop`) and the validation fraction
default to what the first model's run recorded (training_args.json), as in `fkp export --data`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fkp.card import read_record, run_sources  # noqa: E402
from fkp.distill import teacher_keypoints  # noqa: E402
from fkp.errors import FkpError  # noqa: E402
from fkp.evaluate import load_frames  # noqa: E402
from fkp.export import add_label_arguments, choose_sources  # noqa: E402
from fkp.metrics import keypoint_metrics  # noqa: E402
from fkp.options import VAL_FRACTION  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", required=True, help="model folders or Hub ids (the teachers)")
    parser.add_argument(
        "--data", nargs="+", default=None, help="ytf68-layout folders or other sources (default: the first model's)"
    )
    add_label_arguments(parser)
    args = parser.parse_args()
    run_args = read_record(Path(args.model[0]), "training_args.json")
    try:
        sources = choose_sources(run_sources(run_args), args.data or [], args.label_x_shift, args.label_correction)
    except FkpError as error:
        sys.exit(f"teachers.py: error: {error}")
    for source in sources:
        correction = None if source["label_correction"] == "none" else source["label_correction"]
        images, truth = load_frames(
            source["data"],
            "val",
            label_x_shift=source["label_x_shift"],
            val_fraction=run_args.get("val_fraction", VAL_FRACTION),
            label_correction=correction,
            crop=source["crop"],
        )
        print(
            f"{source['data']} validation frames ({len(images)}, the {source['crop']} crop), flip test; "
            "RMSE in frame pixels"
        )
        print(f"{'teachers':<40}{'RMSE':>8}{'NME':>9}")
        labels = []  # each model's labels once; the ensemble's is their mean, as fkp.distill takes it
        for model in args.model:
            labels.append(teacher_keypoints([model], images))
            report(model, labels[-1], truth)
        if len(labels) > 1:
            report("ensemble of all", (sum(labels) / len(labels)).astype(np.float32), truth)


def report(name: str, keypoints: np.ndarray, truth: np.ndarray) -> None:
    metrics = keypoint_metrics(keypoints, np.asarray(truth))
    print(f"{name:<40}{metrics['rmse']:>8.3f}{metrics['nme']:>9.4f}", flush=True)


if __name__ == "__main__":
    main()
