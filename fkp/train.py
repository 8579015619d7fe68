"""Train fkp's stacked hourglass with Hugging Face Accelerate (CPU, one GPU, many GPUs or nodes).

    accelerate launch train.py --dataset ../shared/data/ytf68 --label_x_shift -1.3 --output_dir runs/fkp
    accelerate launch train.py --dataset training.zip --output_dir runs/kaggle   # Kaggle's own data

The best model (lowest validation RMSE) is exported to --output_dir with save_pretrained
(config.json + model.safetensors) beside metrics.json and training_args.json; resumable checkpoints
go to --output_dir/checkpoints (every epoch, and every --checkpointing_steps optimizer steps).

One --output_dir holds one run: a folder with another run in it is refused unless the run resumes
(--resume_from_checkpoint latest, checked to be the same run) or --overwrite_output_dir replaces it.
Checkpoints and exports are written under temporary names and renamed into place when complete, so
a crash never leaves a partial file under a final name; `latest` only picks complete checkpoints.
A resumed run continues where the checkpoint left off, mid-epoch included: the data order is a
function of (seed, epoch), so it ends with the history the uninterrupted run would have had.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import pickle
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import (
    ProjectConfiguration,
    broadcast_object_list,
    gather_object,
    set_seed,
)
from safetensors import SafetensorError
from tqdm.auto import tqdm

from fkp.data import LABEL_X_SHIFT_HELP, VAL_FRACTION, HeatmapDataset, load_source, split_dataset, to_arrays
from fkp.errors import FkpError, run_cli
from fkp.heatmaps import HeatmapCodec
from fkp.metrics import keypoint_metrics
from fkp.model import GROWABLE, MODEL_CONFIGS, build_model, grow, load_model, predict_with
from fkp.transforms import Augmentation

logger = get_logger(__name__)

CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")  # a complete checkpoint's folder name: N optimizer steps
CHECKPOINT_MARKER = "fkp_checkpoint.json"  # written last into a checkpoint: progress, run identity, file sizes
STAGING = ".export.tmp"  # exports are written here first, then renamed into --output_dir one file at a time
# What a run leaves in --output_dir: --overwrite_output_dir removes these (and nothing else).
RUN_FILES = ("config.json", "model.safetensors", "metrics.json", "training_args.json", "train_summary.json",
             "README.md", "learning_curve.png", "model.onnx")
RUN_FOLDERS = ("checkpoints", "logs", STAGING)
# The arguments that make a checkpoint part of one run: a resume must repeat them (--epochs and
# --time_budget_minutes may change, as may --checkpointing_steps and --checkpoints_total_limit).
RUN_IDENTITY = ("dataset", "val_dataset", "val_fraction", "label_x_shift", "model_config", "num_stacks", "depth",
                "channels", "stride", "sigma", "init_from", "seed", "batch_size", "gradient_accumulation_steps",
                "learning_rate", "weight_decay", "warmup_steps", "foreground_weight", "no_augment", "rotation_deg",
                "scale_jitter", "occlusion_prob")
LOAD_ERRORS = (OSError, RuntimeError, ValueError, EOFError, KeyError, pickle.UnpicklingError, SafetensorError)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="train.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True,
                   help="data source: Kaggle csv/zip, parquet, save_to_disk folder, ytf68-layout folder "
                        "or Hub dataset id")
    p.add_argument("--val_dataset", default=None,
                   help="separate validation source (default: a deterministic split of --dataset)")
    p.add_argument("--val_fraction", type=float, default=VAL_FRACTION,
                   help="validation share of the split (by person where known)")
    p.add_argument("--label_x_shift", type=float, default=0.0, help=LABEL_X_SHIFT_HELP)
    p.add_argument("--output_dir", required=True,
                   help="one run per folder: a non-empty one is refused unless the run resumes "
                        "or --overwrite_output_dir")
    p.add_argument("--overwrite_output_dir", action="store_true",
                   help="start afresh in a non-empty --output_dir: the previous run's checkpoints and exports "
                        "are removed first")
    p.add_argument("--model_config", default="fkp", choices=sorted(MODEL_CONFIGS))
    for name, kind in (("num_stacks", int), ("depth", int), ("channels", int), ("stride", int), ("sigma", float)):
        p.add_argument(f"--{name}", type=kind, default=None, help=f"override the config's {name}")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--time_budget_minutes", type=float, default=None,
                   help="train for this wall-clock budget: the epoch count is set from the first epoch's time")
    p.add_argument("--batch_size", type=int, default=32, help="per process")
    p.add_argument("--eval_batch_size", type=int, default=64)
    p.add_argument("--learning_rate", type=float, default=2e-3)
    p.add_argument("--weight_decay", type=float, default=1e-4)
    p.add_argument("--foreground_weight", type=float, default=10.0,
                   help="extra loss weight on heatmap peaks (0: plain MSE)")
    p.add_argument("--warmup_steps", type=int, default=100)
    p.add_argument("--gradient_accumulation_steps", type=int, default=1)
    p.add_argument("--mixed_precision", default=None, choices=["no", "fp16", "bf16"],
                   help="default: accelerate launch's setting")
    p.add_argument("--no_augment", action="store_true")
    p.add_argument("--rotation_deg", type=float, default=Augmentation.max_rotation_deg,
                   help="augmentation: random in-plane rotation up to +- this")
    p.add_argument("--scale_jitter", type=float, default=Augmentation.scale_range[1] - 1,
                   help="augmentation: random zoom in 1 +- this")
    p.add_argument("--occlusion_prob", type=float, default=Augmentation.occlusion_prob,
                   help="augmentation: chance of a random grey rectangle over part of the face")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--num_workers", type=int, default=0)
    p.add_argument("--average_last", type=int, default=0,
                   help="also average the weights at the end of each of the last N epochs (stochastic weight "
                        "averaging); the average is evaluated at the end and exported if it beats every single "
                        "epoch (0: off)")
    p.add_argument("--checkpointing_steps", type=int, default=0,
                   help="also save a checkpoint every N optimizer steps, mid-epoch included "
                        "(0: at the end of each epoch only)")
    p.add_argument("--checkpoints_total_limit", type=int, default=2, help="keep this many of the newest checkpoints")
    p.add_argument("--resume_from_checkpoint", default=None,
                   help="a checkpoint folder, or 'latest' for the newest complete one in --output_dir/checkpoints; "
                        "it must come from a run with the same data, model, seed and batch arguments")
    p.add_argument("--init_from", default=None,
                   help="start from a saved model's weights (folder or Hub id; its config.json sets the architecture) "
                        "with a fresh optimizer and schedule; with --channels / --num_stacks the model is first grown "
                        "to that size, computing the same heatmaps (fkp.model.grow)")
    p.add_argument("--report_to", default=None, help="tracker: tensorboard, wandb, ... (default none)")
    p.add_argument("--push_to_hub", action="store_true")
    p.add_argument("--hub_model_id", default=None)
    p.add_argument("--debug", action="store_true", help="show the traceback of an error, not only its message")
    return p.parse_args(argv)


class TrainerState:
    """Progress saved with every checkpoint (via accelerator.register_for_checkpointing)."""

    def __init__(self):
        self.epoch, self.best_rmse, self.total_epochs, self.elapsed = 0, math.inf, None, 0.0
        self.global_step = 0  # optimizer steps so far, all epochs
        self.batches_in_epoch = 0  # batches (of each process) of the unfinished epoch already trained on
        self.epoch_seconds = 0.0  # time spent in the unfinished epoch
        self.epoch_losses: list[list[float]] = []  # per process: the unfinished epoch's batch losses
        self.samples: list[int] = []  # per process: training samples seen
        self.history: list[dict] = []  # one record per epoch, kept across resumes
        self.average: dict | None = None  # running mean of end-of-epoch weights (--average_last), CPU tensors
        self.averaged_epochs: list[int] = []
        self.average_metrics: dict | None = None

    def add_to_average(self, weights: dict) -> None:
        """Fold one epoch's state dict into the running mean (BatchNorm statistics included, which is
        what the averaged weights need: measured as good as recomputing them on the training set)."""
        n = len(self.averaged_epochs)
        self.average_metrics = None  # the average changes: its evaluation is due again
        weights = {k: v.detach().cpu().clone() for k, v in weights.items()}
        if self.average is None:
            self.average = weights
        else:
            for key, value in weights.items():
                if value.is_floating_point():
                    self.average[key] += (value - self.average[key]) / (n + 1)
                else:  # e.g. BatchNorm's num_batches_tracked
                    self.average[key] = value
        self.averaged_epochs.append(self.epoch)

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(state)


class EpochShuffle(torch.utils.data.Sampler[int]):
    """A random order of the training set that is a function of (seed, epoch) alone: every process
    draws the same order (accelerate gives each its share of the batches), and a resumed run sees
    the batches the uninterrupted run would have seen. Accelerate's set_epoch sets the epoch."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        seed = int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, np.uint64)[0])
        return iter(torch.randperm(self.size, generator=torch.Generator().manual_seed(seed)).tolist())


def heatmap_loss(outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor,
                 foreground_weight: float = 10.0) -> torch.Tensor:
    """Weighted MSE between (B, S, K, H, W) outputs and (B, K, H, W) targets, summed over stacks
    and keypoints, averaged over pixels and the batch; keypoints with weight 0 (missing) contribute
    nothing. Pixels are weighted 1 + foreground_weight * target: the optimum is still the target,
    but the all-zero heatmap (where plain MSE stalls for epochs) is no longer a comfortable start."""
    squared = (outputs.float() - targets[:, None]) ** 2 * (1 + foreground_weight * targets[:, None])
    per_keypoint = squared.mean(dim=(-2, -1)) * weights[:, None]
    return per_keypoint.sum(dim=(1, 2)).mean()


# ---------------------------------------------------------------------------------------------
# Files: atomic writes, complete checkpoints, one run per --output_dir


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk; a no-op where the platform cannot open folders."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: Path, record) -> None:
    """Write JSON to ``path`` atomically: a temporary file beside it, flushed, then renamed over it."""
    partial = path.with_name(path.name + ".tmp")
    with open(partial, "w") as file:
        file.write(json.dumps(record, indent=2))
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


def checkpoint_info(path: Path) -> dict | None:
    """The marker of a complete checkpoint folder: None for a partial one (a .tmp folder, no marker,
    a file missing or of another size than when it was saved) or anything else."""
    if not CHECKPOINT_NAME.fullmatch(path.name) or not path.is_dir():
        return None
    try:
        info = json.loads((path / CHECKPOINT_MARKER).read_text())
        files = info["files"]
        if not files or any((path / name).stat().st_size != size for name, size in files.items()):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return info


def checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoint-N folders, oldest (fewest optimizer steps) first."""
    found = [path for path in folder.glob("checkpoint-*") if checkpoint_info(path) is not None]
    return sorted(found, key=lambda path: int(path.name.split("-")[1]))


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint in ``folder`` (partial ones are skipped), or None."""
    found = checkpoints(folder)
    return found[-1] if found else None


def save_checkpoint(accelerator: Accelerator, checkpoint_dir: Path, state: TrainerState, identity: dict,
                    limit: int) -> Path:
    """Save checkpoint-<optimizer steps> so that it is complete or absent: every process saves into
    checkpoint-N.tmp (accelerate's save_state: model, optimizer, scheduler, TrainerState and each
    process's RNG states); after all have, the main process writes the marker and renames the folder
    into place (replacing an earlier save of the same step), then keeps the newest ``limit``."""
    final = checkpoint_dir / f"checkpoint-{state.global_step}"
    partial, stale = final.with_name(final.name + ".tmp"), final.with_name(final.name + ".old")
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        files = sorted(path for path in partial.iterdir() if path.is_file())
        for path in files:
            _fsync(path)
        marker = {"epoch": state.epoch, "batches_in_epoch": state.batches_in_epoch, "global_step": state.global_step,
                  "run": identity, "files": {path.name: path.stat().st_size for path in files}}
        write_json(partial / CHECKPOINT_MARKER, marker)
        _fsync(partial)
        if final.exists():
            shutil.rmtree(stale, ignore_errors=True)
            final.rename(stale)
        partial.rename(final)
        _fsync(checkpoint_dir)
        shutil.rmtree(stale, ignore_errors=True)
        for old in checkpoints(checkpoint_dir)[: -max(1, limit)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def run_identity(values: dict, num_processes: int | None) -> dict:
    """The RUN_IDENTITY arguments of a run (local paths made absolute), plus its number of processes."""
    identity = {key: values.get(key) for key in RUN_IDENTITY}
    for key in ("dataset", "val_dataset", "init_from"):
        if identity[key] and Path(identity[key]).exists():
            identity[key] = str(Path(identity[key]).resolve())
    if num_processes is not None:
        identity["num_processes"] = num_processes
    return identity


def identity_mismatch(recorded: dict, current: dict) -> list[str]:
    """'--name X there, Y here' for each identity argument on which two runs differ."""
    differences = []
    for key, value in current.items():
        if key in recorded and recorded[key] != value:
            name = "processes (accelerate launch --num_processes)" if key == "num_processes" else f"--{key}"
            differences.append(f"{name} {recorded[key]} there, {value} here")
    return differences


def remove_run(output_dir: Path) -> list[str]:
    """Remove what a run leaves in ``output_dir`` (RUN_FILES, RUN_FOLDERS, temporary files; a README.md
    only beside a config.json, as the model card) and nothing else; returns the names removed."""
    if not output_dir.is_dir():
        return []
    is_model = (output_dir / "config.json").exists()
    removed = []
    for path in sorted(output_dir.iterdir()):
        if path.name in RUN_FOLDERS and path.is_dir():
            shutil.rmtree(path)
        elif path.is_file() and (path.name in RUN_FILES and (path.name != "README.md" or is_model)
                                 or path.name.endswith(".json.tmp")):
            path.unlink()
        else:
            continue
        removed.append(path.name)
    return removed


def remove_partial_saves(output_dir: Path) -> None:
    """Remove what a killed run left half-written: checkpoint-N.tmp / .old folders, the export staging
    folder and JSON temporaries (none of them is ever read)."""
    checkpoint_dir = output_dir / "checkpoints"
    leftovers = [*checkpoint_dir.glob("checkpoint-*.tmp"), *checkpoint_dir.glob("checkpoint-*.old"),
                 output_dir / STAGING, *output_dir.glob("*.json.tmp")]
    for path in leftovers:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()


def plan_run(args: argparse.Namespace, identity: dict) -> tuple[str | None, str | None]:
    """Main process, before any work: may this run use --output_dir, and from which checkpoint does it
    resume? Returns (checkpoint folder or None, refusal message or None). With --overwrite_output_dir
    the previous run's files are removed here."""
    output_dir = Path(args.output_dir)
    checkpoint_dir = output_dir / "checkpoints"
    if output_dir.exists() and not output_dir.is_dir():
        return None, f"--output_dir {output_dir} is a file, not a folder"
    content = sorted(path.name for path in output_dir.iterdir()) if output_dir.is_dir() else []
    if args.overwrite_output_dir:
        if args.resume_from_checkpoint:
            return None, ("--overwrite_output_dir starts the run afresh and --resume_from_checkpoint continues it: "
                          "pass one of them")
        removed = remove_run(output_dir)
        if removed:
            logger.warning("--overwrite_output_dir: removed the previous run's %s from %s",
                           ", ".join(removed), output_dir)
        return None, None
    if not args.resume_from_checkpoint:
        if content:
            listed = ", ".join(content[:6]) + (", ..." if len(content) > 6 else "")
            return None, (f"--output_dir {output_dir} is not empty ({listed}): to continue the run in it pass "
                          "--resume_from_checkpoint latest, to keep it choose another --output_dir, "
                          "to replace it pass --overwrite_output_dir")
        return None, None

    if args.resume_from_checkpoint != "latest":
        path = Path(args.resume_from_checkpoint)
        if checkpoint_info(path) is None:
            return None, (f"--resume_from_checkpoint {path}: not a complete checkpoint (a checkpoint-N folder whose "
                          f"{CHECKPOINT_MARKER}, written last, lists its files); pass another one, or 'latest' for the "
                          f"newest complete one in --output_dir/checkpoints")
    else:
        path = latest_checkpoint(checkpoint_dir)
        partial = sorted(p.name for p in checkpoint_dir.glob("checkpoint-*") if checkpoint_info(p) is None)
        if partial:
            logger.warning("skipping incomplete checkpoints in %s: %s", checkpoint_dir, ", ".join(partial))
        damaged = [name for name in partial if CHECKPOINT_NAME.fullmatch(name)]  # .tmp ones are unfinished saves
        if path is None and damaged:
            return None, (f"--resume_from_checkpoint latest: {checkpoint_dir} holds no complete checkpoint, only "
                          f"{', '.join(damaged)} without a valid {CHECKPOINT_MARKER} (damaged, or saved by an "
                          "older fkp): choose another --output_dir, or pass --overwrite_output_dir to start afresh")
        if path is None:  # nothing to resume: start afresh, unless the folder holds something else
            recorded = output_dir / "training_args.json"
            if recorded.is_file():
                try:
                    mismatch = identity_mismatch(run_identity(json.loads(recorded.read_text()), None), identity)
                except ValueError:
                    mismatch = [f"{recorded} is not valid JSON"]
                if mismatch:
                    return None, (f"--output_dir {output_dir} holds another run ({'; '.join(mismatch)}) and no "
                                  "complete checkpoint to resume: choose another --output_dir, or pass "
                                  "--overwrite_output_dir instead of --resume_from_checkpoint")
            elif [name for name in content if name not in ("checkpoints", "logs")]:
                return None, (f"--resume_from_checkpoint latest: no complete checkpoint in {checkpoint_dir}, and "
                              f"{output_dir} holds other files ({', '.join(content[:6])}): choose another "
                              "--output_dir, or pass --overwrite_output_dir instead of --resume_from_checkpoint")
            logger.info("no complete checkpoint in %s; starting from scratch", checkpoint_dir)
            return None, None
    mismatch = identity_mismatch(checkpoint_info(path).get("run", {}), identity)
    if mismatch:
        return None, (f"checkpoint {path} belongs to another run ({'; '.join(mismatch)}): resume with that run's "
                      "arguments, or start a new run in another --output_dir (or with --overwrite_output_dir)")
    return str(path), None


def evaluate(model, loader, accelerator, codec: HeatmapCodec) -> dict:
    model.eval()
    predictions, targets = [], []
    for images, _, _, keypoints in loader:
        images = images.contiguous(memory_format=torch.channels_last)
        predicted, _, _ = predict_with(model, images, codec)
        predicted, keypoints = accelerator.gather_for_metrics((predicted, keypoints))
        predictions.append(predicted.cpu().numpy())
        targets.append(keypoints.cpu().numpy())
    model.train()
    return keypoint_metrics(np.concatenate(predictions), np.concatenate(targets))


def main(args: argparse.Namespace) -> dict | None:
    """Train (or resume) a run; returns train_summary.json's record on the main process (None elsewhere).
    Raises FkpError for a problem with the arguments, the data or --output_dir."""
    logging.basicConfig(format="%(asctime)s %(message)s", level=logging.INFO)
    for noisy in ("accelerate", "huggingface_hub"):  # save_state/load_state log ~8 INFO lines per checkpoint
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.average_last < 0:
        raise FkpError(f"--average_last must be 0 (off) or a number of epochs, not {args.average_last}")
    if args.checkpointing_steps < 0:
        raise FkpError("--checkpointing_steps must be 0 (each epoch's end only) or a number of steps, "
                       f"not {args.checkpointing_steps}")
    overrides = {k: getattr(args, k) for k in ("num_stacks", "depth", "channels", "stride", "sigma")
                 if getattr(args, k) is not None}
    fixed = [k for k in overrides if k not in GROWABLE]
    if args.init_from and fixed:
        raise FkpError(f"--init_from takes the architecture from {args.init_from}'s config.json "
                       f"(only --channels and --num_stacks can grow it); drop {', '.join('--' + k for k in fixed)}")
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=args.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
    )
    rank, world = accelerator.process_index, accelerator.num_processes
    identity = run_identity(vars(args), world)
    # one decision, on the main process, before any work; every process acts on it
    plan = [plan_run(args, identity) if accelerator.is_main_process else None]
    resume, refusal = broadcast_object_list(plan)[0]
    if refusal:
        raise FkpError(refusal)
    if accelerator.is_main_process:
        remove_partial_saves(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(args.seed)

    with accelerator.main_process_first():
        dataset = load_source(args.dataset, label_x_shift=args.label_x_shift)
        if args.val_dataset:
            train_set, val_set = dataset, load_source(args.val_dataset, label_x_shift=args.label_x_shift)
        elif len(dataset) == 0:
            raise FkpError(f"{args.dataset}: no rows to train on")
        else:
            train_set, val_set = split_dataset(dataset, args.val_fraction)
        train_images, train_keypoints = to_arrays(train_set)
        val_images, val_keypoints = to_arrays(val_set)
    if len(train_images) == 0 or len(val_images) == 0:
        raise FkpError(f"{args.dataset}: need training and validation rows, got {len(train_images)} and "
                       f"{len(val_images)} (see --val_fraction and --val_dataset)")

    if args.init_from:
        try:
            model = grow(load_model(args.init_from), **overrides).train()
        except FkpError:
            raise
        except ValueError as error:  # grow's "only adds" message
            raise FkpError(f"--init_from {args.init_from}: {error}") from error
    else:
        model = build_model(args.model_config, **overrides)
    model = model.to(memory_format=torch.channels_last)  # ~1.3x faster convs on CPU
    codec = model.codec
    augmentation = None if args.no_augment else Augmentation(
        max_rotation_deg=args.rotation_deg, scale_range=(1 - args.scale_jitter, 1 + args.scale_jitter),
        occlusion_prob=args.occlusion_prob)
    train_data = HeatmapDataset(train_images, train_keypoints, codec, augmentation, seed=args.seed)
    val_data = HeatmapDataset(val_images, val_keypoints, codec)
    train_loader = torch.utils.data.DataLoader(
        train_data, args.batch_size, sampler=EpochShuffle(len(train_data), args.seed),
        drop_last=len(train_data) > args.batch_size * world, num_workers=args.num_workers)
    val_loader = torch.utils.data.DataLoader(val_data, args.eval_batch_size, num_workers=args.num_workers)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    state = TrainerState()
    state.total_epochs = None if args.time_budget_minutes else args.epochs
    steps_per_epoch = max(1, math.ceil(len(train_loader) / world / args.gradient_accumulation_steps))

    def lr_factor(step: int) -> float:
        total = steps_per_epoch * (state.total_epochs or args.epochs)
        warmup = min(args.warmup_steps, total // 10)
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    model, optimizer, train_loader, val_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, val_loader, scheduler)
    accelerator.register_for_checkpointing(state)
    checkpoint_dir = output_dir / "checkpoints"

    if resume:
        try:
            accelerator.load_state(resume)
        except LOAD_ERRORS as error:
            raise FkpError(f"checkpoint {resume} is damaged or incomplete ({type(error).__name__}: {error}); "
                           "resume from an earlier one with --resume_from_checkpoint PATH") from error
        if not args.time_budget_minutes:  # --epochs may extend (or shorten) a resumed run
            state.total_epochs = args.epochs
        logger.info("resumed from %s at epoch %d, batch %d (best RMSE %.3f)",
                    resume, state.epoch, state.batches_in_epoch, state.best_rmse)

    if accelerator.is_main_process:
        config = {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers("fkp", config=config)
    logger.info("%d train / %d validation images, %d process(es), %s",
                len(train_data), len(val_data), world, accelerator.device)

    samples_seen = state.samples[rank] if len(state.samples) == world else 0
    started = time.time() - state.elapsed
    while state.total_epochs is None or state.epoch < state.total_epochs:
        train_loader.set_epoch(state.epoch)  # accelerate hands the epoch to the sampler (the order) ...
        train_data.set_epoch(state.epoch)  # ... and here to the augmentation draws
        done = state.batches_in_epoch  # > 0 after a resume from a mid-epoch checkpoint
        batches = accelerator.skip_first_batches(train_loader, done) if done else train_loader
        losses = list(state.epoch_losses[rank]) if done and len(state.epoch_losses) == world else []
        epoch_start = time.time() - state.epoch_seconds
        progress = tqdm(batches, desc=f"epoch {state.epoch + 1}/{state.total_epochs or '?'}", initial=done,
                        total=len(train_loader), disable=not accelerator.is_local_main_process, leave=False)
        for batch, (images, heatmaps, weights, _) in enumerate(progress, start=done + 1):
            with accelerator.accumulate(model):
                outputs = model(images.contiguous(memory_format=torch.channels_last))
                loss = heatmap_loss(outputs, heatmaps, weights, args.foreground_weight)
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            losses.append(loss.item())
            samples_seen += len(images)
            progress.set_postfix(loss=f"{losses[-1]:.4f}")
            if not accelerator.sync_gradients:
                continue
            state.global_step += 1
            mid_epoch = batch < len(train_loader)  # the epoch's last step is saved at the epoch's end
            if args.checkpointing_steps and state.global_step % args.checkpointing_steps == 0 and mid_epoch:
                state.batches_in_epoch, state.epoch_seconds = batch, time.time() - epoch_start
                state.elapsed = time.time() - started
                state.epoch_losses, state.samples = gather_object([list(losses)]), gather_object([samples_seen])
                save_checkpoint(accelerator, checkpoint_dir, state, identity, args.checkpoints_total_limit)
        epoch_seconds = time.time() - epoch_start
        state.batches_in_epoch, state.epoch_seconds, state.epoch_losses = 0, 0.0, []
        metrics = evaluate(model, val_loader, accelerator, codec)
        train_loss = accelerator.reduce(torch.tensor(np.mean(losses), device=accelerator.device), "mean").item()
        state.epoch += 1
        state.elapsed = time.time() - started
        if state.total_epochs is None:  # time budget: decide on rank 0 from the first epoch, share with all ranks
            decision = [max(1, int(args.time_budget_minutes * 60 / max(state.elapsed, 1e-6)))]
            state.total_epochs = broadcast_object_list(decision)[0]
        record = {"epoch": state.epoch, "train_loss": train_loss, "val_rmse": metrics["rmse"],
                  "val_nme": metrics["nme"], "images_per_second": len(train_data) / epoch_seconds,
                  "elapsed_seconds": state.elapsed, "lr": scheduler.get_last_lr()[0]}
        state.history.append(record)
        accelerator.log(record, step=state.epoch)
        logger.info("epoch %d/%d: loss %.4f, val RMSE %.3f px, NME %.4f, %.0f img/s", state.epoch, state.total_epochs,
                    train_loss, metrics["rmse"], metrics["nme"], record["images_per_second"])

        improved = metrics["rmse"] < state.best_rmse
        if improved:
            state.best_rmse = metrics["rmse"]
        if accelerator.is_main_process:  # the learning curve so far, readable while training runs
            write_summary(output_dir, state, time.time() - started)
        if improved:
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                export(accelerator.unwrap_model(model), output_dir, {**vars(args), "epochs": state.total_epochs},
                       {**metrics, **record, "num_processes": world}, rank)
        if args.average_last and state.epoch > state.total_epochs - args.average_last:
            if state.averaged_epochs and state.averaged_epochs[0] <= state.total_epochs - args.average_last:
                # a resume lengthened the schedule: start a new window (the old epochs' weights are not kept one by one)
                state.average, state.averaged_epochs = None, []
            state.add_to_average(accelerator.unwrap_model(model).state_dict())
        state.samples = gather_object([samples_seen])
        save_checkpoint(accelerator, checkpoint_dir, state, identity, args.checkpoints_total_limit)

    if state.average is not None and state.average_metrics is None:
        evaluate_average(state, model, val_loader, accelerator, output_dir, args, world, rank, codec)
        # a resume must know the average's result: this replaces the last epoch's checkpoint
        save_checkpoint(accelerator, checkpoint_dir, state, identity, args.checkpoints_total_limit)

    per_rank = gather_object([{"rank": rank, "samples": samples_seen}])
    accelerator.wait_for_everyone()
    summary = None
    if accelerator.is_main_process:
        summary = write_summary(output_dir, state, time.time() - started, per_rank)
        if (output_dir / "config.json").exists():  # the card and curve again, with the whole history (and the average)
            write_card(output_dir)
        if args.push_to_hub:
            push_folder(output_dir, args.hub_model_id or output_dir.name)
    accelerator.end_training()
    return summary


def evaluate_average(state: TrainerState, model, val_loader, accelerator, output_dir: Path, args, world: int, rank: int,
                     codec: HeatmapCodec) -> None:
    """Evaluate the --average_last weights; export them if they beat the best single epoch."""
    averaged = copy.deepcopy(accelerator.unwrap_model(model))
    averaged.load_state_dict(state.average)
    metrics = evaluate(averaged, val_loader, accelerator, codec)
    first, last = state.averaged_epochs[0], state.averaged_epochs[-1]
    state.average_metrics = {"epochs": [first, last], "val_rmse": metrics["rmse"], "val_nme": metrics["nme"]}
    logger.info("average of epochs %d-%d: val RMSE %.3f px (best single epoch %.3f)",
                first, last, metrics["rmse"], state.best_rmse)
    if metrics["rmse"] < state.best_rmse:
        state.best_rmse = metrics["rmse"]
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            record = {"epoch": last, "averaged_epochs": [first, last], "val_rmse": metrics["rmse"],
                      "val_nme": metrics["nme"], "elapsed_seconds": state.elapsed}
            export(averaged, output_dir, {**vars(args), "epochs": state.total_epochs},
                   {**metrics, **record, "num_processes": world}, rank)


def push_folder(output_dir: Path, repo_id: str) -> str:
    """Upload the exported model folder (weights, config, card, learning curve, metrics; not the
    checkpoints) to a Hub model repository; returns its URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo(repo_id, exist_ok=True, repo_type="model")
    api.upload_folder(folder_path=str(output_dir), repo_id=repo_id, repo_type="model",
                      ignore_patterns=["checkpoints/*", "logs/*", f"{STAGING}/*", "*.tmp"],
                      commit_message="fkp: trained model")
    logger.info("pushed %s to %s", output_dir, url)
    return str(url)


def write_summary(output_dir: Path, state: TrainerState, wall_seconds: float, ranks: list | None = None) -> dict:
    """train_summary.json: best RMSE, epochs and the per-epoch history of the whole run (resumes included)."""
    summary = {"best_val_rmse": state.best_rmse, "epochs": state.epoch, "total_epochs": state.total_epochs,
               "wall_seconds": wall_seconds, "ranks": ranks, "history": state.history, "average": state.average_metrics}
    write_json(output_dir / "train_summary.json", summary)
    return summary


def _staging(output_dir: Path) -> Path:
    """An empty folder inside ``output_dir`` (same file system, so its files can be renamed into it)."""
    staging = output_dir / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _publish(staging: Path, output_dir: Path, keep: Sequence[str] = ()) -> None:
    """Move the files of ``staging`` (except ``keep``) into ``output_dir``, each by one atomic os.replace,
    weights and config first, readable by everyone (safetensors writes 0600 files; a model is for
    sharing); then remove ``staging``."""
    umask = os.umask(0)
    os.umask(umask)
    files = [path for path in staging.iterdir() if path.is_file() and path.name not in keep]
    for path in sorted(files, key=lambda path: path.name not in ("model.safetensors", "config.json")):
        path.chmod(0o666 & ~umask)
        _fsync(path)
        os.replace(path, output_dir / path.name)
    _fsync(output_dir)
    shutil.rmtree(staging, ignore_errors=True)


def export(model, output_dir: Path, run_args: dict, metrics: dict, rank: int = 0) -> None:
    """Write the model (config.json + model.safetensors), its metrics, the training arguments
    (``run_args``: the command line, with "epochs" as the run really scheduled them) and its card,
    each to a temporary name first and then renamed into place."""
    from fkp.card import write_model_card

    staging = _staging(output_dir)
    model.save_pretrained(staging)
    (staging / "metrics.json").write_text(json.dumps({**metrics, "exported_by_rank": rank}, indent=2))
    (staging / "training_args.json").write_text(json.dumps(run_args, indent=2))
    if (output_dir / "train_summary.json").exists():  # for the card's learning curve
        shutil.copy2(output_dir / "train_summary.json", staging)
    write_model_card(staging)  # replaces the mixin's generic card
    _publish(staging, output_dir, keep=("train_summary.json",))
    print(f"rank {rank} exported model with val RMSE {metrics['rmse']:.3f} px to {output_dir}", flush=True)


def write_card(output_dir: Path) -> None:
    """Rewrite the model card and learning curve of ``output_dir`` from its records, atomically."""
    from fkp.card import write_model_card

    staging = _staging(output_dir)
    records = ("config.json", "training_args.json", "metrics.json", "train_summary.json")
    for name in records:
        if (output_dir / name).exists():
            shutil.copy2(output_dir / name, staging)
    write_model_card(staging)
    _publish(staging, output_dir, keep=records)


def cli(argv: Sequence[str] | None = None) -> int:
    """The command line (train.py, ``accelerate launch -m fkp.train``): a user's error (FkpError) ends
    it with one line ``train.py: error: ...`` and exit status 2; --debug shows the traceback."""

    def run(arguments: list[str]) -> None:
        main(parse_args(arguments))

    return run_cli(run, argv, prog="train.py")


if __name__ == "__main__":
    raise SystemExit(cli())
