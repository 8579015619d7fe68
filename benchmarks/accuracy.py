"""Accuracy at equal training time: training recipes side by side, one CPU thread each, on the same
data for the same wall-clock budget, scored on the same person-wise validation people.

    python benchmarks/accuracy.py --data ../shared/data/ytf68 --label-x-shift -1.3 --budget_minutes 12 \\
        --recipes fkp_v1 1x64 2x32 1x64_strong_aug --out runs/recipes
    python benchmarks/accuracy.py ... --recipes fkp original        # the shipped design against the original one
    python benchmarks/accuracy.py ... --init_from runs/base_v040 --budget_minutes 90 --seed 11 \\
        --recipes cycle_64 grow_96 grow_2x64 --out runs/cycle3          # another cycle from trained weights

Recipes (`RECIPES`): named train.py arguments. "original" is the hourglass-facekeypoints-detection
design (one 128-channel hourglass at 96x96, 1x1 stem, sigma-5 heatmaps, argmax decoding). With
``--init_from``, the recipes below start from those trained weights (train.py's --init_from): "cycle_64"
trains the same design for another cosine cycle, "grow_96" and "grow_2x64" first grow it to 96
channels / 2 stacks (`fkp.model.grow`); all three average the weights of their last 15 epochs. Runs whose
output folder already holds a finished training (train_summary.json) are not retrained, so the script
can be re-run to re-print the table (add --retrain to start over). Runs that share the machine slow
each other alike; the table reports the epochs each reached.
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
from fkp.data.splits import VAL_FRACTION  # noqa: E402

RECIPES = {
    "fkp": ["--model_config", "fkp"],
    "fkp_v1": ["--model_config", "fkp_v1"],
    "original": ["--model_config", "original"],
    "1x64": ["--model_config", "fkp_v1", "--num_stacks", "1"],
    "2x32": ["--model_config", "fkp_v1", "--channels", "32"],
    "1x64_strong_aug": [
        "--model_config",
        "fkp_v1",
        "--num_stacks",
        "1",
        "--rotation_deg",
        "30",
        "--scale_jitter",
        "0.2",
        "--occlusion_prob",
        "0.3",
    ],
    # from trained weights (--init_from)
    "cycle_64": ["--learning_rate", "1e-3", "--average_last", "15"],
    "grow_96": ["--learning_rate", "1e-3", "--average_last", "15", "--channels", "96"],
    "grow_2x64": ["--learning_rate", "1e-3", "--average_last", "15", "--num_stacks", "2"],
}
NEEDS_INIT = {"cycle_64", "grow_96", "grow_2x64"}


def train(
    runs: dict[str, Path], data: str, label_x_shift: float, budget: float, seed: int, init_from: str | None
) -> None:
    """Start one training per recipe at once (1 thread each) and wait for all; resumable."""
    processes = []
    for recipe, out in runs.items():
        out.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--cpu",
            "--num_processes",
            "1",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--num_cpu_threads_per_process",
            "1",
            str(ROOT / "train.py"),
            "--dataset",
            data,
            "--label_x_shift",
            str(label_x_shift),
            "--output_dir",
            str(out),
            *RECIPES[recipe],
            "--time_budget_minutes",
            str(budget),
            "--seed",
            str(seed),
            "--resume_from_checkpoint",
            "latest",
            *(["--init_from", init_from] if recipe in NEEDS_INIT else []),
        ]
        log = open(out.parent / f"{out.name}.log", "a")
        print("$", " ".join(command[2:]), flush=True)
        processes.append(
            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        )
    for process in processes:
        if process.wait():
            raise SystemExit(f"training failed: {process.args}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ytf68"))
    parser.add_argument("--label-x-shift", type=float, default=-1.3)
    parser.add_argument("--budget_minutes", type=float, default=12)
    parser.add_argument("--recipes", nargs="+", default=["fkp", "original"], choices=sorted(RECIPES))
    parser.add_argument("--out", default=str(ROOT / "runs" / "recipes"))
    parser.add_argument(
        "--val_fraction", type=float, default=VAL_FRACTION, help=f"must match train.py's (default {VAL_FRACTION:g})"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--init_from",
        default=None,
        help="trained weights every recipe starts from (needed by cycle_64, grow_96, grow_2x64)",
    )
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args()
    if not args.init_from and NEEDS_INIT & set(args.recipes):
        parser.error(f"recipes {sorted(NEEDS_INIT & set(args.recipes))} start from trained weights: pass --init_from")

    out = Path(args.out)
    runs = {recipe: out / recipe for recipe in args.recipes}
    todo = {r: path for r, path in runs.items() if args.retrain or not (path / "train_summary.json").exists()}
    if todo:
        started = time.time()
        train(todo, args.data, args.label_x_shift, args.budget_minutes, args.seed, args.init_from)
        print(f"trained {sorted(todo)} in {(time.time() - started) / 60:.1f} min (wall clock, side by side)")

    from fkp.evaluate import evaluate_frames
    from fkp.landmarker import FaceKeypoints

    print(
        f"\ncommand: python benchmarks/accuracy.py --data {args.data} --label-x-shift {args.label_x_shift} "
        f"--budget_minutes {args.budget_minutes} --seed {args.seed} --recipes {' '.join(args.recipes)} --out {args.out}"
        + (f" --init_from {args.init_from}" if args.init_from else "")
    )
    print(
        f"\n| recipe | train.py arguments | epochs in {args.budget_minutes:g} min | best single epoch (train.py) "
        "| val RMSE (px) | + flip | NME |"
    )
    print("|---|---|---|---|---|---|---|")
    results = {}
    for recipe, path in runs.items():
        summary = json.loads((path / "train_summary.json").read_text())
        options = dict(split="val", label_x_shift=args.label_x_shift, val_fraction=args.val_fraction)
        plain = evaluate_frames(FaceKeypoints(str(path)), args.data, **options)
        flipped = evaluate_frames(FaceKeypoints(str(path), flip_test=True), args.data, **options)
        single = min(h["val_rmse"] for h in summary["history"])
        results[recipe] = {
            "epochs": summary["epochs"],
            "best_single_epoch": single,
            "average": summary.get("average"),
            "rmse": plain["rmse"],
            "rmse_flip": flipped["rmse"],
            "nme": plain["nme"],
        }
        print(
            f"| {recipe} | `{' '.join(RECIPES[recipe])}` | {summary['epochs']} | {single:.3f} | {plain['rmse']:.3f} "
            f"| {flipped['rmse']:.3f} "
            f"| {plain['nme']:.4f} |",
            flush=True,
        )
    (out / "accuracy.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
