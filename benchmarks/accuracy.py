"""Accuracy at equal training time: training recipes side by side, one CPU thread each, on the same
data for the same wall-clock budget, scored on the same person-wise validation people.

    python benchmarks/accuracy.py --data ../shared/data/ytf68 --label-x-shift -1.3 --budget_minutes 12 \\
        --recipes fkp_v1 1x64 2x32 1x64_strong_aug --out runs/recipes
    python benchmarks/accuracy.py ... --recipes fkp original        # the shipped design against the original one
    python benchmarks/accuracy.py ... --init_from runs/base_v040 --budget_minutes 90 --seed 11 \\
        --recipes cycle_64 grow_96 grow_2x64 --out runs/cycle3          # another cycle from trained weights
    python benchmarks/accuracy.py --data ../shared/data/ytf68 ../shared/data/helen_afw68 \\
        --label-x-shift -1.3 0 --label-correction ytf68 none --init_from fkp/weights --budget_minutes 90 \\
        --seed 17 --recipes cycle_2x64 stride4_2x64 --out runs/recipes17      # two sources, figures for each

Recipes (`RECIPES`): named train.py arguments. "original" is the hourglass-facekeypoints-detection
design (one 128-channel hourglass at 96x96, 1x1 stem, sigma-5 heatmaps, argmax decoding). With
``--init_from``, the recipes below start from those trained weights (train.py's --init_from): "cycle_64"
trains the same design for another cosine cycle, "grow_96" and "grow_2x64" first grow it to 96
channels / 2 stacks (`fkp.model.grow`); all three average the weights of their last 15 epochs.
"cycle_2x64" and "stride4_2x64" (issue 17) fine-tune a 2-stack, 64-channel model for another cycle at
its own stride 2 and at stride 4 (`fkp.model.restride`: the same weights, a quarter of the hourglass
work), averaging their last 5 epochs. With several ``--data`` sources every recipe trains on all of
them, and the table gives each source's validation figures. Runs whose
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
    "cycle_2x64": ["--learning_rate", "1e-3", "--average_last", "5"],
    "stride4_2x64": ["--learning_rate", "1e-3", "--average_last", "5", "--stride", "4"],
}
NEEDS_INIT = {"cycle_64", "grow_96", "grow_2x64", "cycle_2x64", "stride4_2x64"}


def train(
    runs: dict[str, Path],
    data: list[str],
    label_x_shift: list[float],
    budget: float,
    seed: int,
    init_from: str | None,
    label_correction: list[str],
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
            *data,
            "--label_x_shift",
            *map(str, label_x_shift),
            "--label_correction",
            *label_correction,
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
    parser.add_argument("--data", nargs="+", default=[str(ROOT.parent / "shared" / "data" / "ytf68")])
    parser.add_argument("--label-x-shift", type=float, nargs="+", default=[-1.3], help="one, or one per --data")
    parser.add_argument("--label-correction", nargs="+", default=["none"], help="one, or one per --data")
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
    for name in ("label_x_shift", "label_correction"):
        values = getattr(args, name)
        if len(values) not in (1, len(args.data)):
            parser.error(f"--{name.replace('_', '-')}: one value, or one per --data")
        setattr(args, name, values * len(args.data) if len(values) == 1 else values)
    if not args.init_from and NEEDS_INIT & set(args.recipes):
        parser.error(f"recipes {sorted(NEEDS_INIT & set(args.recipes))} start from trained weights: pass --init_from")

    out = Path(args.out)
    runs = {recipe: out / recipe for recipe in args.recipes}
    todo = {r: path for r, path in runs.items() if args.retrain or not (path / "train_summary.json").exists()}
    if todo:
        started = time.time()
        train(
            todo, args.data, args.label_x_shift, args.budget_minutes, args.seed, args.init_from, args.label_correction
        )
        print(f"trained {sorted(todo)} in {(time.time() - started) / 60:.1f} min (wall clock, side by side)")

    from fkp.evaluate import evaluate_frames
    from fkp.landmarker import FaceKeypoints

    print(
        f"\ncommand: python benchmarks/accuracy.py --data {' '.join(args.data)} "
        f"--label-x-shift {' '.join(map(str, args.label_x_shift))} "
        f"--label-correction {' '.join(args.label_correction)} "
        f"--budget_minutes {args.budget_minutes} --seed {args.seed} --recipes {' '.join(args.recipes)} --out {args.out}"
        + (f" --init_from {args.init_from}" if args.init_from else "")
    )
    names = [Path(d).name for d in args.data]
    columns = " | ".join(f"{n}: val RMSE (px) | + flip | NME" for n in names)
    budget = f"epochs in {args.budget_minutes:g} min"
    print(f"\n| recipe | train.py arguments | {budget} | best single epoch (train.py) | {columns} |")
    print("|---|---|---|---|" + "---|---|---|" * len(names))
    results = {}
    for recipe, path in runs.items():
        summary = json.loads((path / "train_summary.json").read_text())
        plain_model, flip_model = FaceKeypoints(str(path)), FaceKeypoints(str(path), flip_test=True)
        single = min(h["val_rmse"] for h in summary["history"])
        results[recipe] = {"epochs": summary["epochs"], "best_single_epoch": single, "average": summary.get("average")}
        cells = []
        for data, name, shift, correction in zip(args.data, names, args.label_x_shift, args.label_correction):
            options = dict(split="val", label_x_shift=shift, val_fraction=args.val_fraction)
            options["label_correction"] = None if correction == "none" else correction
            plain = evaluate_frames(plain_model, data, **options)
            flipped = evaluate_frames(flip_model, data, **options)
            results[recipe][name] = {"rmse": plain["rmse"], "rmse_flip": flipped["rmse"], "nme": plain["nme"]}
            cells.append(f"{plain['rmse']:.3f} | {flipped['rmse']:.3f} | {plain['nme']:.4f}")
        print(
            f"| {recipe} | `{' '.join(RECIPES[recipe])}` | {summary['epochs']} | {single:.3f} | {' | '.join(cells)} |",
            flush=True,
        )
    (out / "accuracy.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
