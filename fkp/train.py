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
from tqdm.auto import tqdm

from fkp.augment import Augmentation
from fkp.data import HeatmapDataset, is_ytf68, load_source, named_crop, source_name, split_dataset, to_arrays
from fkp.distill import HeatmapTeacher, save_teacher_labels, stored_teacher_labels, teacher_keypoints
from fkp.errors import FkpError, run_cli
from fkp.heatmaps import HeatmapCodec
from fkp.metrics import keypoint_metrics
from fkp.model import GROWABLE, build_model, grow, load_model, predict_with, restride
from fkp.options import per_source
from fkp.run_folder import (
    LOAD_ERRORS,
    STAGING,
    TEACHER_LABELS,
    plan_run,
    publish,
    remove_partial_saves,
    run_identity,
    save_checkpoint,
    staging_folder,
    write_json,
)
from fkp.training_args import parse_args

logger = get_logger(__name__)


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


def heatmap_loss(
    outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, foreground_weight: float = 10.0
) -> torch.Tensor:
    """Weighted MSE between (B, S, K, H, W) outputs and (B, K, H, W) targets, summed over stacks
    and keypoints, averaged over pixels and the batch; keypoints with weight 0 (missing) contribute
    nothing. Pixels are weighted 1 + foreground_weight * target: the optimum is still the target,
    but the all-zero heatmap (where plain MSE stalls for epochs) is no longer a comfortable start."""
    squared = (outputs.float() - targets[:, None]) ** 2 * (1 + foreground_weight * targets[:, None])
    per_keypoint = squared.mean(dim=(-2, -1)) * weights[:, None]
    return per_keypoint.sum(dim=(1, 2)).mean()


def repeated_rows(lengths: Sequence[int], repeats: Sequence[int]) -> np.ndarray:
    """Row indices into the concatenation of parts of these lengths, each part's rows ``repeats``
    times in a row: lengths [3, 2], repeats [1, 2] -> [0 1 2 3 4 3 4]."""
    ends = np.cumsum(lengths, dtype=int)
    parts = [np.tile(np.arange(end - length, end), count) for end, length, count in zip(ends, lengths, repeats)]
    return np.concatenate(parts) if parts else np.zeros(0, int)


def evaluate(model, loader, accelerator, codec: HeatmapCodec, sources: dict[str, slice] | None = None) -> dict:
    """Validation metrics (`keypoint_metrics`) of all rows; with ``sources`` (name -> the rows of that
    source), also each source's as ``metrics["sources"][name]`` (rmse, nme, count)."""
    model.eval()
    predictions, targets = [], []
    for images, _, _, keypoints in loader:
        images = images.contiguous(memory_format=torch.channels_last)
        predicted, _, _ = predict_with(model, images, codec)
        predicted, keypoints = accelerator.gather_for_metrics((predicted, keypoints))
        predictions.append(predicted.cpu().numpy())
        targets.append(keypoints.cpu().numpy())
    model.train()
    predictions, targets = np.concatenate(predictions), np.concatenate(targets)
    metrics = keypoint_metrics(predictions, targets)
    if sources and len(sources) > 1:
        metrics["sources"] = {}
        for name, rows in sources.items():
            part = keypoint_metrics(predictions[rows], targets[rows])
            metrics["sources"][name] = {"rmse": part["rmse"], "nme": part["nme"], "count": rows.stop - rows.start}
    return metrics


def main(args: argparse.Namespace) -> dict | None:
    """Train (or resume) a run; returns train_summary.json's record on the main process (None elsewhere).
    Raises FkpError for a problem with the arguments, the data or --output_dir."""
    logging.basicConfig(format="%(asctime)s %(message)s", level=logging.INFO)
    for noisy in ("accelerate", "huggingface_hub"):  # save_state/load_state log ~8 INFO lines per checkpoint
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.average_last < 0:
        raise FkpError(f"--average_last must be 0 (off) or a number of epochs, not {args.average_last}")
    if args.checkpointing_steps < 0:
        raise FkpError(
            "--checkpointing_steps must be 0 (each epoch's end only) or a number of steps, "
            f"not {args.checkpointing_steps}"
        )
    # the detector of --crop detector is named in the run's record, so later tools cut the same frames
    args.crop = [named_crop(crop) for crop in args.crop]
    overrides = {
        k: getattr(args, k)
        for k in ("num_stacks", "depth", "channels", "stride", "sigma")
        if getattr(args, k) is not None
    }
    fixed = [k for k in overrides if k not in (*GROWABLE, "stride")]
    if args.init_from and fixed:
        raise FkpError(
            f"--init_from takes the architecture from {args.init_from}'s config.json "
            "(only --channels and --num_stacks can grow it, --stride 2 or 4 change it); "
            f"drop {', '.join('--' + k for k in fixed)}"
        )
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

    sources = args.dataset
    shifts = per_source(args.label_x_shift, len(sources))
    corrections = per_source(args.label_correction, len(sources))
    crops = per_source(args.crop, len(sources))
    repeats = per_source(args.source_repeats, len(sources))
    with accelerator.main_process_first():
        train_parts, val_parts = [], []
        for source, shift, correction, crop in zip(sources, shifts, corrections, crops):
            dataset = load_source(source, label_x_shift=shift, label_correction=correction, crop=crop)
            if len(dataset) == 0:
                raise FkpError(f"{source}: no rows to train on")
            if args.val_dataset:
                images, keypoints = to_arrays(dataset)
            else:
                train_side, val_side = split_dataset(dataset, args.val_fraction)
                images, keypoints = to_arrays(train_side)
                val_parts.append((source, to_arrays(val_side)))
            train_parts.append((images, keypoints))
        if args.val_dataset:
            val_crop = crops[0] if len(set(crops)) == 1 and is_ytf68(args.val_dataset) else "labels"
            val_set = load_source(
                args.val_dataset, label_x_shift=shifts[0], label_correction=corrections[0], crop=val_crop
            )
            val_parts = [(args.val_dataset, to_arrays(val_set))]
        names = [source_name(source) for source, _ in val_parts]
        if len(set(names)) == len(names):  # short names where they tell the sources apart
            val_parts = [(name, arrays) for name, (_, arrays) in zip(names, val_parts)]
        train_images = np.concatenate([images for images, _ in train_parts])
        train_keypoints = np.concatenate([keypoints for _, keypoints in train_parts])
        source_lengths = [len(images) for images, _ in train_parts]
        train_rows = repeated_rows(source_lengths, repeats)  # --source_repeats
        val_images = np.concatenate([images for _, (images, _) in val_parts])
        val_keypoints = np.concatenate([keypoints for _, (_, keypoints) in val_parts])
        # each source's rows in the concatenated validation set, for figures per source
        ends = np.cumsum([len(images) for _, (images, _) in val_parts])
        val_sources = {
            name: slice(int(end) - len(images), int(end)) for (name, (images, _)), end in zip(val_parts, ends)
        }
    if len(train_images) == 0 or len(val_images) == 0:
        raise FkpError(
            f"{' '.join(sources)}: need training and validation rows, got {len(train_images)} and "
            f"{len(val_images)} (see --val_fraction and --val_dataset)"
        )

    if args.init_from:
        try:
            start = load_model(args.init_from)
            if "stride" in overrides and overrides["stride"] != start.stride:
                start = restride(start, overrides["stride"])
            model = grow(start, **{k: v for k, v in overrides.items() if k in GROWABLE}).train()
        except FkpError:
            raise
        except ValueError as error:  # grow's "only adds" message
            raise FkpError(f"--init_from {args.init_from}: {error}") from error
    else:
        model = build_model(args.model_config, **overrides)
    model = model.to(memory_format=torch.channels_last)  # ~1.3x faster convs on CPU
    codec = model.codec
    augmentation = (
        None
        if args.no_augment
        else Augmentation(
            max_rotation_deg=args.rotation_deg,
            scale_range=(1 - args.scale_jitter, 1 + args.scale_jitter),
            occlusion_prob=args.occlusion_prob,
        )
    )
    teacher_labels = teacher_share = heatmap_teacher = None
    if args.teacher and args.teacher_targets == "heatmaps":  # the teachers see every augmented batch
        heatmap_teacher = HeatmapTeacher(args.teacher, codec, accelerator.device)
        for source, engine in zip(args.teacher, heatmap_teacher.engines):
            logger.info("teacher %s: heatmaps on every batch, in %s", source, engine)
        # not an argument, but what the targets depend on (int8 and PyTorch differ by about 0.1 px): it goes
        # into training_args.json and the card; a resume on another device records its own
        args.teacher_engines = heatmap_teacher.engines
    elif args.teacher:  # every training frame labelled once by the teachers (fkp.distill), each rank a share
        read_back = resume and accelerator.is_main_process  # read once, then broadcast
        stored = [stored_teacher_labels(output_dir, *train_keypoints.shape[:2]) if read_back else None]
        labels = broadcast_object_list(stored)[0]
        if labels is None:  # a new run (or one from before labels were stored): ask the teachers
            if resume:
                logger.warning(
                    "no readable teacher labels for these frames in %s: the teachers label them again", output_dir
                )
            share = np.array_split(np.arange(len(train_images)), world)[rank]
            labels = teacher_keypoints(args.teacher, train_images[share], accelerator.device, args.eval_batch_size)
            labels = np.concatenate(gather_object([labels]))
            if accelerator.is_main_process:
                save_teacher_labels(output_dir, labels)
        else:
            logger.info("teacher labels of the %d training frames read back from the run", len(labels))
        teacher_labels = labels[train_rows]
    if args.teacher:
        source_shares = per_source(args.distill_weight, len(sources))  # --distill_weight, per source
        teacher_share = np.repeat(source_shares, source_lengths)[train_rows]
    if len(train_rows) != len(train_images):  # each row once unless --source_repeats says otherwise
        train_images, train_keypoints = train_images[train_rows], train_keypoints[train_rows]
    train_data = HeatmapDataset(
        train_images,
        train_keypoints,
        codec,
        augmentation,
        seed=args.seed,
        teacher_keypoints=teacher_labels,
        teacher_share=teacher_share,
    )
    val_data = HeatmapDataset(val_images, val_keypoints, codec)
    train_loader = torch.utils.data.DataLoader(
        train_data,
        args.batch_size,
        sampler=EpochShuffle(len(train_data), args.seed),
        drop_last=len(train_data) > args.batch_size * world,
        num_workers=args.num_workers,
    )
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
        model, optimizer, train_loader, val_loader, scheduler
    )
    accelerator.register_for_checkpointing(state)
    checkpoint_dir = output_dir / "checkpoints"

    if resume:
        try:
            accelerator.load_state(resume)
        except LOAD_ERRORS as error:
            raise FkpError(
                f"checkpoint {resume} is damaged or incomplete ({type(error).__name__}: {error}); "
                "resume from an earlier one with --resume_from_checkpoint PATH"
            ) from error
        if not args.time_budget_minutes:  # --epochs may extend (or shorten) a resumed run
            state.total_epochs = args.epochs
        logger.info(
            "resumed from %s at epoch %d, batch %d (best RMSE %.3f)",
            resume,
            state.epoch,
            state.batches_in_epoch,
            state.best_rmse,
        )

    if accelerator.is_main_process:
        config = {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers("fkp", config=config)
    logger.info(
        "%d train / %d validation images, %d process(es), %s", len(train_data), len(val_data), world, accelerator.device
    )

    samples_seen = state.samples[rank] if len(state.samples) == world else 0
    started = time.time() - state.elapsed
    while state.total_epochs is None or state.epoch < state.total_epochs:
        train_loader.set_epoch(state.epoch)  # accelerate hands the epoch to the sampler (the order) ...
        train_data.set_epoch(state.epoch)  # ... and here to the augmentation draws
        done = state.batches_in_epoch  # > 0 after a resume from a mid-epoch checkpoint
        batches = accelerator.skip_first_batches(train_loader, done) if done else train_loader
        losses = list(state.epoch_losses[rank]) if done and len(state.epoch_losses) == world else []
        epoch_start = time.time() - state.epoch_seconds
        progress = tqdm(
            batches,
            desc=f"epoch {state.epoch + 1}/{state.total_epochs or '?'}",
            initial=done,
            total=len(train_loader),
            disable=not accelerator.is_local_main_process,
            leave=False,
        )
        for batch, (images, heatmaps, weights, _, *teacher_targets) in enumerate(progress, start=done + 1):
            with accelerator.accumulate(model):
                outputs = model(images.contiguous(memory_format=torch.channels_last))
                loss = heatmap_loss(outputs, heatmaps, weights, args.foreground_weight)
                if heatmap_teacher is not None:  # each frame's --distill_weight; the human weights carry 1 - it
                    (share,) = teacher_targets
                    teacher_heatmaps, trusted = heatmap_teacher(images, asked=share > 0)
                    teacher_targets = (teacher_heatmaps, share[:, None] * trusted)
                if teacher_targets:  # the teachers' heatmaps and weights (--teacher), each weight already
                    # scaled by its frame's --distill_weight (the human ones by 1 - it): the two losses add up
                    loss = loss + heatmap_loss(outputs, *teacher_targets, args.foreground_weight)
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
        metrics = evaluate(model, val_loader, accelerator, codec, val_sources)
        train_loss = accelerator.reduce(torch.tensor(np.mean(losses), device=accelerator.device), "mean").item()
        state.epoch += 1
        state.elapsed = time.time() - started
        if state.total_epochs is None:  # time budget: decide on rank 0 from the first epoch, share with all ranks
            decision = [max(1, int(args.time_budget_minutes * 60 / max(state.elapsed, 1e-6)))]
            state.total_epochs = broadcast_object_list(decision)[0]
        record = {
            "epoch": state.epoch,
            "train_loss": train_loss,
            "val_rmse": metrics["rmse"],
            "val_nme": metrics["nme"],
            "images_per_second": len(train_data) / epoch_seconds,
            "elapsed_seconds": state.elapsed,
            "lr": scheduler.get_last_lr()[0],
        }
        for name, figures in metrics.get("sources", {}).items():
            record[f"val_rmse/{name}"], record[f"val_nme/{name}"] = figures["rmse"], figures["nme"]
        state.history.append(record)
        accelerator.log(record, step=state.epoch)
        logger.info(
            "epoch %d/%d: loss %.4f, val RMSE %.3f px, NME %.4f, %.0f img/s",
            state.epoch,
            state.total_epochs,
            train_loss,
            metrics["rmse"],
            metrics["nme"],
            record["images_per_second"],
        )
        for name, figures in metrics.get("sources", {}).items():
            logger.info("  %s: val RMSE %.3f px, NME %.4f (%d frames)", name, *figures.values())

        improved = metrics["rmse"] < state.best_rmse
        if improved:
            state.best_rmse = metrics["rmse"]
        if accelerator.is_main_process:  # the learning curve so far, readable while training runs
            write_summary(output_dir, state, time.time() - started)
        if improved:
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                export(
                    accelerator.unwrap_model(model),
                    output_dir,
                    {**vars(args), "epochs": state.total_epochs},
                    {**metrics, **record, "num_processes": world},
                    rank,
                )
        if args.average_last and state.epoch > state.total_epochs - args.average_last:
            if state.averaged_epochs and state.averaged_epochs[0] <= state.total_epochs - args.average_last:
                # a resume lengthened the schedule: start a new window (the old epochs' weights are not kept one by one)
                state.average, state.averaged_epochs = None, []
            state.add_to_average(accelerator.unwrap_model(model).state_dict())
        state.samples = gather_object([samples_seen])
        save_checkpoint(accelerator, checkpoint_dir, state, identity, args.checkpoints_total_limit)

    if state.average is not None and state.average_metrics is None:
        evaluate_average(state, model, val_loader, accelerator, output_dir, args, world, rank, codec, val_sources)
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
    # every rank tears its process group down together: a rank that left while rank 0 still wrote the
    # summary and card once aborted in gloo's teardown ("terminate called without an active exception")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return summary


def evaluate_average(
    state: TrainerState,
    model,
    val_loader,
    accelerator,
    output_dir: Path,
    args,
    world: int,
    rank: int,
    codec: HeatmapCodec,
    val_sources: dict[str, slice] | None = None,
) -> None:
    """Evaluate the --average_last weights; export them if they beat the best single epoch."""
    averaged = copy.deepcopy(accelerator.unwrap_model(model))
    averaged.load_state_dict(state.average)
    metrics = evaluate(averaged, val_loader, accelerator, codec, val_sources)
    first, last = state.averaged_epochs[0], state.averaged_epochs[-1]
    state.average_metrics = {"epochs": [first, last], "val_rmse": metrics["rmse"], "val_nme": metrics["nme"]}
    logger.info(
        "average of epochs %d-%d: val RMSE %.3f px (best single epoch %.3f)",
        first,
        last,
        metrics["rmse"],
        state.best_rmse,
    )
    if metrics["rmse"] < state.best_rmse:
        state.best_rmse = metrics["rmse"]
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            record = {
                "epoch": last,
                "averaged_epochs": [first, last],
                "val_rmse": metrics["rmse"],
                "val_nme": metrics["nme"],
                "elapsed_seconds": state.elapsed,
            }
            export(
                averaged,
                output_dir,
                {**vars(args), "epochs": state.total_epochs},
                {**metrics, **record, "num_processes": world},
                rank,
            )


def push_folder(output_dir: Path, repo_id: str) -> str:
    """Upload the exported model folder (weights, config, card, learning curve, metrics; not the
    checkpoints) to a Hub model repository; returns its URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo(repo_id, exist_ok=True, repo_type="model")
    api.upload_folder(
        folder_path=str(output_dir),
        repo_id=repo_id,
        repo_type="model",
        ignore_patterns=["checkpoints/*", "logs/*", f"{STAGING}/*", "*.tmp", TEACHER_LABELS],
        commit_message="fkp: trained model",
    )
    logger.info("pushed %s to %s", output_dir, url)
    return str(url)


def write_summary(output_dir: Path, state: TrainerState, wall_seconds: float, ranks: list | None = None) -> dict:
    """train_summary.json: best RMSE, epochs and the per-epoch history of the whole run (resumes included)."""
    summary = {
        "best_val_rmse": state.best_rmse,
        "epochs": state.epoch,
        "total_epochs": state.total_epochs,
        "wall_seconds": wall_seconds,
        "ranks": ranks,
        "history": state.history,
        "average": state.average_metrics,
    }
    write_json(output_dir / "train_summary.json", summary)
    return summary


def export(model, output_dir: Path, run_args: dict, metrics: dict, rank: int = 0) -> None:
    """Write the model (config.json + model.safetensors), its metrics, the training arguments
    (``run_args``: the command line, with "epochs" as the run really scheduled them) and its card,
    each to a temporary name first and then renamed into place."""
    staging = staging_folder(output_dir)
    model.save_pretrained(staging)
    (staging / "metrics.json").write_text(json.dumps({**metrics, "exported_by_rank": rank}, indent=2))
    (staging / "training_args.json").write_text(json.dumps(run_args, indent=2))
    if (output_dir / "train_summary.json").exists():  # for the card's learning curve
        shutil.copy2(output_dir / "train_summary.json", staging)
    write_card_safely(staging)  # replaces the mixin's generic card
    publish(staging, output_dir, keep=("train_summary.json",))
    print(f"rank {rank} exported model with val RMSE {metrics['rmse']:.3f} px to {output_dir}", flush=True)


def write_card(output_dir: Path) -> None:
    """Rewrite the model card and learning curve of ``output_dir`` from its records, atomically."""
    staging = staging_folder(output_dir)
    records = ("config.json", "training_args.json", "metrics.json", "train_summary.json")
    for name in records:
        if (output_dir / name).exists():
            shutil.copy2(output_dir / name, staging)
    write_card_safely(staging)
    publish(staging, output_dir, keep=records)


def write_card_safely(folder: Path) -> None:
    """`write_model_card`, with a failure logged instead of raised: a card that cannot be written
    must not cost the run its weights (`fkp export` writes it again later)."""
    from fkp.card import write_model_card

    try:
        write_model_card(folder)
    except Exception as error:  # noqa: BLE001 - anything in the card's text or plot
        logger.warning(
            "model card not written (%s: %s); run `fkp export %s` later", type(error).__name__, error, folder
        )


def cli(argv: Sequence[str] | None = None) -> int:
    """The command line (train.py, ``accelerate launch -m fkp.train``): a user's error (FkpError) ends
    it with one line ``train.py: error: ...`` and exit status 2; --debug shows the traceback."""

    def run(arguments: list[str]) -> None:
        main(parse_args(arguments))

    return run_cli(run, argv, prog="train.py")


if __name__ == "__main__":
    raise SystemExit(cli())
