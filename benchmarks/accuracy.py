"""Accuracy at equal training time: the shipped design against the original
hourglass-facekeypoints-detection design (one 128-channel hourglass at 96x96, 1x1 stem, sigma-5
heatmaps, argmax decoding), both trained by train.py on the same data for the same wall-clock
budget, side by side with one CPU thread each, then scored on the same person-wise validation split.

    python benchmarks/accuracy.py --data ../shared/data/ytf68 --budget_minutes 65 --out runs

Runs whose output folder already holds a finished training (train_summary.json) are not retrained,
so the script can be re-run to re-print the comparison (add --retrain to start over).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DESIGNS = {"shipped": "fkp", "original": "original"}


def train(designs: dict[str, Path], data: str, budget: float) -> None:
    """Start one training per design at once (1 thread each) and wait for all; resumable."""
    processes = []
    for config, out in designs.items():
        out.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1", "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no", "--num_cpu_threads_per_process", "1",
                   str(ROOT / "train.py"), "--dataset", data, "--output_dir", str(out), "--model_config", config,
                   "--time_budget_minutes", str(budget), "--resume_from_checkpoint", "latest"]
        log = open(out.parent / f"{out.name}.log", "a")
        print("$", " ".join(command[2:]), flush=True)
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}))
    for process in processes:
        if process.wait():
            raise SystemExit(f"training failed: {process.args}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ytf68"))
    parser.add_argument("--budget_minutes", type=float, default=65)
    parser.add_argument("--out", default=str(ROOT / "runs"))
    parser.add_argument("--val_fraction", type=float, default=0.1, help="must match train.py's (default 0.1)")
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args()

    out = Path(args.out)
    runs = {config: out / name for name, config in (("fkp", "fkp"), ("original", "original"))}
    todo = {config: path for config, path in runs.items() if args.retrain or not (path / "train_summary.json").exists()}
    if todo:
        started = time.time()
        train(todo, args.data, args.budget_minutes)
        print(f"trained {sorted(todo)} in {(time.time() - started) / 60:.1f} min (wall clock, side by side)")

    import numpy as np

    from fkp.api import FaceKeypoints
    from fkp.data import load_source, split_dataset, to_arrays
    from fkp.metrics import keypoint_metrics

    _, val = split_dataset(load_source(args.data), args.val_fraction)
    images, keypoints = to_arrays(val)
    print(f"\ncommand: python benchmarks/accuracy.py --data {args.data} --budget_minutes {args.budget_minutes} --out {args.out}")
    print(f"validation: {len(images)} images of {len(set(val['person']))} people never seen in training\n")
    scores = {}
    for config, path in runs.items():
        summary = json.loads((path / "train_summary.json").read_text())
        history = summary["history"]
        for flip in (False, True):
            metrics = keypoint_metrics(FaceKeypoints(str(path), flip_test=flip).predict_frames(images)[0], keypoints)
            scores[config, flip] = metrics
            print(f"{config:9s} flip_test={flip!s:5s}  RMSE {metrics['rmse']:.3f} px  NME {metrics['nme']:.4f}   "
                  f"({summary['epochs']} epochs in {summary['wall_seconds'] / 60:.0f} min, {np.mean([h['images_per_second'] for h in history]):.1f} train img/s)")
    from fkp.evaluate import format_report

    for flip in (False, True):
        print(f"\nshipped design, flip_test={flip}, per keypoint (validation people):\n{format_report(scores['fkp', flip])}")
    base = scores["original", False]["rmse"]
    for flip in (False, True):
        print(f"shipped{' + flip' if flip else ''} vs original (no flip): RMSE {100 * (1 - scores['fkp', flip]['rmse'] / base):.1f}% lower")
    json.dump({f"{c}{'+flip' if f else ''}": {k: m[k] for k in ("rmse", "nme", "per_keypoint")} for (c, f), m in scores.items()},
              open(out / "accuracy.json", "w"), indent=2)


if __name__ == "__main__":
    main()
