"""Which teachers to distil from? Each model, and the ensemble of all of them, labelling each source's
validation frames exactly as `train.py --teacher` labels the training frames (`fkp.distill`: the mean
over the teachers of each one's flip-test keypoints, calibrated offsets subtracted).

    python benchmarks/teachers.py --model runs/t96 runs/t128
    python benchmarks/teachers.py --model runs/t96 runs/t128 --data ../shared/data/helen_afw68

A student learns at best what its teachers' labels say, so the ensemble row is the figure to beat.
Calibrate each model first (`fkp calibrate keypoints --model DIR`), as `fkp evaluate` figures are.
By default the two sources of ../shared/data, read as the shipped model reads them (ytf68 with
`--label-x-shift -1.3 --label-correction ytf68`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fkp.distill import teacher_keypoints  # noqa: E402
from fkp.evaluate import load_frames  # noqa: E402
from fkp.metrics import keypoint_metrics  # noqa: E402

DEFAULT_SOURCES = {
    "../shared/data/ytf68": {"label_x_shift": -1.3, "label_correction": "ytf68"},
    "../shared/data/helen_afw68": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", required=True, help="model folders or Hub ids (the teachers)")
    parser.add_argument(
        "--data",
        nargs="+",
        default=None,
        help="ytf68-layout folders, read without label corrections "
        "(default: ../shared/data's two sources, each with the shipped model's corrections)",
    )
    args = parser.parse_args()
    sources = {folder: {} for folder in args.data} if args.data else DEFAULT_SOURCES
    rows = [(model, [model]) for model in args.model]
    if len(args.model) > 1:
        rows.append(("ensemble of all", args.model))
    for folder, options in sources.items():
        images, truth = load_frames(folder, "val", **options)
        print(f"{folder} validation frames ({len(images)}), flip test; RMSE in frame pixels")
        print(f"{'teachers':<40}{'RMSE':>8}{'NME':>9}")
        for name, models in rows:
            metrics = keypoint_metrics(teacher_keypoints(models, images), np.asarray(truth))
            print(f"{name:<40}{metrics['rmse']:>8.3f}{metrics['nme']:>9.4f}", flush=True)


if __name__ == "__main__":
    main()
