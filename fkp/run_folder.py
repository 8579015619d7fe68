"""A training run's output folder: one run per --output_dir (refused, resumed or overwritten, see
`plan_run`), checkpoints that are complete or absent (`save_checkpoint`, `latest_checkpoint`), and
files written under temporary names and renamed into place (`write_json`, `publish`)."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from accelerate import Accelerator
from accelerate.logging import get_logger
from safetensors import SafetensorError

from .data import named_crop
from .options import per_source

logger = get_logger(__name__)

CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")  # a complete checkpoint's folder name: N optimizer steps
CHECKPOINT_MARKER = "fkp_checkpoint.json"  # written last into a checkpoint: progress, run identity, file sizes
STAGING = ".export.tmp"  # exports are written here first, then renamed into --output_dir one file at a time
TEACHER_LABELS = "teacher_keypoints.npy"  # fkp.distill's labels: (N, K, 2) float32, one row per training frame
# What a run leaves in --output_dir: --overwrite_output_dir removes these (and nothing else).
RUN_FILES = (
    "config.json",
    "model.safetensors",
    "metrics.json",
    "training_args.json",
    "train_summary.json",
    "README.md",
    "learning_curve.png",
    "model.onnx",
    TEACHER_LABELS,
)
PARTIAL_SAVES = (".json.tmp", ".npy.tmp")  # files written to a temporary name, then renamed
RUN_FOLDERS = ("checkpoints", "logs", STAGING)
# The arguments that make a checkpoint part of one run: a resume must repeat them (--epochs and
# --time_budget_minutes may change, as may --checkpointing_steps and --checkpoints_total_limit).
RUN_IDENTITY = (
    "dataset",
    "val_dataset",
    "val_fraction",
    "label_x_shift",
    "label_correction",
    "crop",
    "model_config",
    "num_stacks",
    "depth",
    "channels",
    "stride",
    "sigma",
    "init_from",
    "seed",
    "batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "weight_decay",
    "warmup_steps",
    "foreground_weight",
    "no_augment",
    "rotation_deg",
    "scale_jitter",
    "occlusion_prob",
    "source_repeats",
    "teacher",
    "teacher_targets",
    "distill_weight",
)
LOAD_ERRORS = (OSError, RuntimeError, ValueError, EOFError, KeyError, pickle.UnpicklingError, SafetensorError)


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


def save_checkpoint(accelerator: Accelerator, checkpoint_dir: Path, state, identity: dict, limit: int) -> Path:
    """Save checkpoint-<optimizer steps> so that it is complete or absent: every process saves into
    checkpoint-N.tmp (accelerate's save_state: model, optimizer, scheduler, TrainerState and each
    process's RNG states; ``state`` is train.py's TrainerState); after all have, the main process
    writes the marker and renames the folder into place (replacing an earlier save of the same step),
    then keeps the newest ``limit``."""
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
        marker = {
            "epoch": state.epoch,
            "batches_in_epoch": state.batches_in_epoch,
            "global_step": state.global_step,
            "run": identity,
            "files": {path.name: path.stat().st_size for path in files},
        }
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
    """The RUN_IDENTITY arguments of a run (local paths made absolute), plus its number of processes.
    An argument a run's record lacks (it predates the argument) is left out, so it is not compared."""
    identity = {key: values[key] for key in RUN_IDENTITY if key in values}

    def absolute(path):
        return str(Path(path).resolve()) if path and Path(path).exists() else path

    for key in ("dataset", "val_dataset", "init_from", "teacher"):
        if key in identity:
            value = identity[key]
            identity[key] = [absolute(v) for v in value] if isinstance(value, list) else absolute(value)
    if "dataset" in identity:  # a run recorded before --crop cut its frames where the labels put them
        identity["crop"] = per_source(values.get("crop") or "labels", len(per_source(identity["dataset"])))
    if not identity.get("teacher"):  # without teachers the weight and the targets change nothing
        identity.pop("distill_weight", None)
        identity.pop("teacher_targets", None)
    else:
        # runs from before --teacher_targets labelled their frames once, with keypoints
        identity["teacher_targets"] = values.get("teacher_targets") or "keypoints"
        if "distill_weight" in identity:  # one weight for all sources (older runs: a number) = that weight each
            weight, count = identity["distill_weight"], len(per_source(identity.get("dataset")))
            identity["distill_weight"] = [float(w) for w in per_source(weight, count)]
    if num_processes is not None:
        identity["num_processes"] = num_processes
    return identity


def identity_mismatch(recorded: dict, current: dict) -> list[str]:
    """'--name X there, Y here' for each identity argument on which two runs differ."""

    # crops compare by their detector's name: "detector" in a record or checkpoint from before crops
    # named it means the default detector
    def named(run: dict) -> dict:
        return {**run, "crop": [named_crop(crop) for crop in run["crop"]]} if isinstance(run.get("crop"), list) else run

    recorded, current = named(recorded), named(current)
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
        elif path.is_file() and (
            path.name in RUN_FILES and (path.name != "README.md" or is_model) or path.name.endswith(PARTIAL_SAVES)
        ):
            path.unlink()
        else:
            continue
        removed.append(path.name)
    return removed


def remove_partial_saves(output_dir: Path) -> None:
    """Remove what a killed run left half-written: checkpoint-N.tmp / .old folders, the export staging
    folder and JSON temporaries (none of them is ever read)."""
    checkpoint_dir = output_dir / "checkpoints"
    leftovers = [
        *checkpoint_dir.glob("checkpoint-*.tmp"),
        *checkpoint_dir.glob("checkpoint-*.old"),
        output_dir / STAGING,
        *(path for suffix in PARTIAL_SAVES for path in output_dir.glob("*" + suffix)),
    ]
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
            return None, (
                "--overwrite_output_dir starts the run afresh and --resume_from_checkpoint continues it: "
                "pass one of them"
            )
        removed = remove_run(output_dir)
        if removed:
            logger.warning(
                "--overwrite_output_dir: removed the previous run's %s from %s", ", ".join(removed), output_dir
            )
        return None, None
    if not args.resume_from_checkpoint:
        if content:
            listed = ", ".join(content[:6]) + (", ..." if len(content) > 6 else "")
            return None, (
                f"--output_dir {output_dir} is not empty ({listed}): to continue the run in it pass "
                "--resume_from_checkpoint latest, to keep it choose another --output_dir, "
                "to replace it pass --overwrite_output_dir"
            )
        return None, None

    if args.resume_from_checkpoint != "latest":
        path = Path(args.resume_from_checkpoint)
        if checkpoint_info(path) is None:
            return None, (
                f"--resume_from_checkpoint {path}: not a complete checkpoint (a checkpoint-N folder whose "
                f"{CHECKPOINT_MARKER}, written last, lists its files); pass another one, or 'latest' for the "
                f"newest complete one in --output_dir/checkpoints"
            )
    else:
        path = latest_checkpoint(checkpoint_dir)
        partial = sorted(p.name for p in checkpoint_dir.glob("checkpoint-*") if checkpoint_info(p) is None)
        if partial:
            logger.warning("skipping incomplete checkpoints in %s: %s", checkpoint_dir, ", ".join(partial))
        damaged = [name for name in partial if CHECKPOINT_NAME.fullmatch(name)]  # .tmp ones are unfinished saves
        if path is None and damaged:
            return None, (
                f"--resume_from_checkpoint latest: {checkpoint_dir} holds no complete checkpoint, only "
                f"{', '.join(damaged)} without a valid {CHECKPOINT_MARKER} (damaged, or saved by an "
                "older fkp): choose another --output_dir, or pass --overwrite_output_dir to start afresh"
            )
        if path is None:  # nothing to resume: start afresh, unless the folder holds something else
            recorded = output_dir / "training_args.json"
            if recorded.is_file():
                try:
                    mismatch = identity_mismatch(run_identity(json.loads(recorded.read_text()), None), identity)
                except ValueError:
                    mismatch = [f"{recorded} is not valid JSON"]
                if mismatch:
                    return None, (
                        f"--output_dir {output_dir} holds another run ({'; '.join(mismatch)}) and no "
                        "complete checkpoint to resume: choose another --output_dir, or pass "
                        "--overwrite_output_dir instead of --resume_from_checkpoint"
                    )
            # a run stopped before its first checkpoint leaves its logs and teacher labels (relabelled afresh)
            elif [
                name
                for name in content
                if name not in ("checkpoints", "logs", TEACHER_LABELS) and not name.endswith(PARTIAL_SAVES)
            ]:
                return None, (
                    f"--resume_from_checkpoint latest: no complete checkpoint in {checkpoint_dir}, and "
                    f"{output_dir} holds other files ({', '.join(content[:6])}): choose another "
                    "--output_dir, or pass --overwrite_output_dir instead of --resume_from_checkpoint"
                )
            logger.info("no complete checkpoint in %s; starting from scratch", checkpoint_dir)
            return None, None
    mismatch = identity_mismatch(checkpoint_info(path).get("run", {}), identity)
    if mismatch:
        return None, (
            f"checkpoint {path} belongs to another run ({'; '.join(mismatch)}): resume with that run's "
            "arguments, or start a new run in another --output_dir (or with --overwrite_output_dir)"
        )
    return str(path), None


def staging_folder(output_dir: Path) -> Path:
    """An empty folder inside ``output_dir`` (same file system, so its files can be renamed into it)."""
    staging = output_dir / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def publish(staging: Path, output_dir: Path, keep: Sequence[str] = ()) -> None:
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
