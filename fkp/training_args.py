"""train.py's command line: its arguments with their defaults and help (`parse_args`), and the
command that reproduces a run from its recorded arguments (`training_command`, for the model card)."""

from __future__ import annotations

import argparse
import shlex

from .augment import Augmentation
from .data import LABEL_X_SHIFT_HELP, VAL_FRACTION
from .data.conventions import LABEL_CORRECTION_HELP
from .model import MODEL_CONFIGS
from .options import CROP_HELP, crop_value

DESCRIPTION = """Train fkp's stacked hourglass with Hugging Face Accelerate (CPU, one GPU, many GPUs or nodes).

    accelerate launch train.py --dataset ../shared/data/ytf68 --label_x_shift -1.3 --output_dir runs/fkp
    accelerate launch train.py --dataset training.zip --output_dir runs/kaggle   # Kaggle's own data
    accelerate launch train.py ... --output_dir runs/fkp --resume_from_checkpoint latest   # continue a run
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="train.py", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--dataset",
        required=True,
        nargs="+",
        help="data source(s): Kaggle csv/zip, parquet, save_to_disk folder, ytf68-layout folder or Hub dataset id; "
        "several are trained on together, each split by person, with validation figures per source",
    )
    p.add_argument(
        "--val_dataset", default=None, help="separate validation source (default: a deterministic split of --dataset)"
    )
    p.add_argument(
        "--val_fraction", type=float, default=VAL_FRACTION, help="validation share of the split (by person where known)"
    )
    p.add_argument(
        "--label_x_shift",
        type=float,
        nargs="+",
        default=[0.0],
        help=LABEL_X_SHIFT_HELP + "; one value, or one per --dataset",
    )
    p.add_argument(
        "--label_correction", nargs="+", default=["none"], help=LABEL_CORRECTION_HELP + "; one, or one per --dataset"
    )
    p.add_argument(
        "--crop", nargs="+", default=["labels"], type=crop_value, help=CROP_HELP + "; one, or one per --dataset"
    )
    p.add_argument(
        "--source_repeats",
        type=int,
        nargs="+",
        default=[1],
        help="how many times each --dataset's training rows appear in an epoch (with augmentation, each "
        "time a different draw), e.g. 1 2 to show a small source twice as often; one value, or one per --dataset",
    )
    p.add_argument(
        "--output_dir",
        required=True,
        help="one run per folder: a non-empty one is refused unless the run resumes or --overwrite_output_dir",
    )
    p.add_argument(
        "--overwrite_output_dir",
        action="store_true",
        help="start afresh in a non-empty --output_dir: the previous run's checkpoints and exports are removed first",
    )
    p.add_argument("--model_config", default="fkp", choices=sorted(MODEL_CONFIGS))
    for name, kind in (("num_stacks", int), ("depth", int), ("channels", int), ("stride", int), ("sigma", float)):
        p.add_argument(f"--{name}", type=kind, default=None, help=f"override the config's {name}")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument(
        "--time_budget_minutes",
        type=float,
        default=None,
        help="train for this wall-clock budget: the epoch count is set from the first epoch's time",
    )
    p.add_argument("--batch_size", type=int, default=32, help="per process")
    p.add_argument("--eval_batch_size", type=int, default=64)
    p.add_argument("--learning_rate", type=float, default=2e-3)
    p.add_argument("--weight_decay", type=float, default=1e-4)
    p.add_argument(
        "--foreground_weight", type=float, default=10.0, help="extra loss weight on heatmap peaks (0: plain MSE)"
    )
    p.add_argument("--warmup_steps", type=int, default=100)
    p.add_argument("--gradient_accumulation_steps", type=int, default=1)
    p.add_argument(
        "--mixed_precision", default=None, choices=["no", "fp16", "bf16"], help="default: accelerate launch's setting"
    )
    p.add_argument("--no_augment", action="store_true")
    p.add_argument(
        "--rotation_deg",
        type=float,
        default=Augmentation.max_rotation_deg,
        help="augmentation: random in-plane rotation up to +- this",
    )
    p.add_argument(
        "--scale_jitter",
        type=float,
        default=Augmentation.scale_range[1] - 1,
        help="augmentation: random zoom in 1 +- this",
    )
    p.add_argument(
        "--occlusion_prob",
        type=float,
        default=Augmentation.occlusion_prob,
        help="augmentation: chance of a random grey rectangle over part of the face",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--num_workers", type=int, default=0)
    p.add_argument(
        "--average_last",
        type=int,
        default=0,
        help="also average the weights at the end of each of the last N epochs (stochastic weight "
        "averaging); the average is evaluated at the end and exported if it beats every single "
        "epoch (0: off)",
    )
    p.add_argument(
        "--checkpointing_steps",
        type=int,
        default=0,
        help="also save a checkpoint every N optimizer steps, mid-epoch included (0: at the end of each epoch only)",
    )
    p.add_argument("--checkpoints_total_limit", type=int, default=2, help="keep this many of the newest checkpoints")
    p.add_argument(
        "--resume_from_checkpoint",
        default=None,
        help="a checkpoint folder, or 'latest' for the newest complete one in --output_dir/checkpoints; "
        "it must come from a run with the same data, model, seed and batch arguments",
    )
    p.add_argument(
        "--init_from",
        default=None,
        help="start from a saved model's weights (a shipped model's name, a folder or a Hub id; its config.json "
        "sets the architecture) "
        "with a fresh optimizer and schedule; with --channels / --num_stacks the model is first grown "
        "to that size, computing the same heatmaps (fkp.model.grow)",
    )
    p.add_argument(
        "--teacher",
        nargs="+",
        default=None,
        help="distil from these trained models (shipped models' names, folders or Hub ids): their mean "
        "flip-test keypoints on each training frame, moved by its augmentation, are a second label "
        "(fkp.distill); any stride or size",
    )
    p.add_argument(
        "--teacher_targets",
        choices=("keypoints", "heatmaps"),
        default="keypoints",
        help="with --teacher: 'keypoints' labels every frame once before training (their mean flip-test "
        "keypoints, offsets applied); 'heatmaps' asks the teachers about every augmented batch, their mean "
        "heatmaps on the student's grid being the target (raw: calibrate the student after; on the CPU "
        "each teacher runs its int8 copy where it has one; a teacher's stride must divide the student's)",
    )
    p.add_argument(
        "--distill_weight",
        type=float,
        nargs="+",
        default=[0.5],
        help="with --teacher, the teachers' share of the loss (0-1; the human labels' share is the rest); "
        "one value, or one per --dataset (e.g. 0 0.5: the teachers' labels on the second source only)",
    )
    p.add_argument("--report_to", default=None, help="tracker: tensorboard, wandb, ... (default none)")
    p.add_argument("--push_to_hub", action="store_true")
    p.add_argument("--hub_model_id", default=None)
    p.add_argument("--debug", action="store_true", help="show the traceback of an error, not only its message")
    args = p.parse_args(argv)
    for name in ("label_x_shift", "label_correction", "crop", "source_repeats", "distill_weight"):
        values = getattr(args, name)
        if len(values) not in (1, len(args.dataset)):
            p.error(f"--{name}: give one value, or one per --dataset ({len(args.dataset)}), not {len(values)}")
    if any(repeats < 1 for repeats in args.source_repeats):
        p.error(f"--source_repeats: each must be 1 or more, got {' '.join(map(str, args.source_repeats))}")
    if args.teacher_targets != "keypoints" and not args.teacher:
        p.error(f"--teacher_targets {args.teacher_targets} needs --teacher")
    if not all(0.0 <= weight <= 1.0 for weight in args.distill_weight):
        p.error(f"--distill_weight: each must be between 0 and 1, got {' '.join(map(str, args.distill_weight))}")
    return args


def training_command(args: dict) -> str:
    """The `accelerate launch train.py ...` command line of a run, from its training_args.json
    (arguments left at their defaults are omitted)."""
    defaults = vars(parse_args(["--dataset", "-", "--output_dir", "-"]))
    parts = ["accelerate", "launch", "train.py"]
    for key, value in args.items():
        if key not in defaults or key in ("epochs",) and args.get("time_budget_minutes"):
            continue
        if key in ("dataset", "output_dir") or value != defaults[key]:
            if isinstance(value, bool):
                parts += [f"--{key}"] if value else []
            elif isinstance(value, list):
                parts += [f"--{key}", *map(str, value)]
            elif value is not None:
                parts += [f"--{key}", str(value)]
    return shlex.join(parts)
