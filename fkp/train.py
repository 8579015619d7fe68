"""Train fkp's stacked hourglass with Hugging Face Accelerate (CPU, one GPU, many GPUs or nodes).

    accelerate launch train.py --dataset ../shared/data/ytf68 --label_x_shift -1.3 --output_dir runs/fkp
    accelerate launch train.py --dataset training.zip --output_dir runs/kaggle   # Kaggle's own data

The best model (lowest validation RMSE) is exported to --output_dir with save_pretrained
(config.json + model.safetensors) beside metrics.json and training_args.json; resumable checkpoints
go to --output_dir/checkpoints.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import shutil
import time
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

from fkp.data import (
    LABEL_X_SHIFT_HELP,
    HeatmapDataset,
    load_source,
    split_dataset,
    to_arrays,
)
from fkp.metrics import keypoint_metrics
from fkp.model import GROWABLE, MODEL_CONFIGS, build_model, grow, load_model, predict_with
from fkp.transforms import Augmentation

logger = get_logger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="data source: Kaggle csv/zip, parquet, save_to_disk folder, ytf68-layout folder or Hub dataset id")
    p.add_argument("--val_dataset", default=None, help="separate validation source (default: a deterministic split of --dataset)")
    p.add_argument("--val_fraction", type=float, default=0.1, help="validation share of the split (by person where known)")
    p.add_argument("--label_x_shift", type=float, default=0.0, help=LABEL_X_SHIFT_HELP)
    p.add_argument("--output_dir", required=True)
    p.add_argument("--model_config", default="fkp", choices=sorted(MODEL_CONFIGS))
    for name, kind in (("num_stacks", int), ("depth", int), ("channels", int), ("stride", int), ("sigma", float)):
        p.add_argument(f"--{name}", type=kind, default=None, help=f"override the config's {name}")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--time_budget_minutes", type=float, default=None, help="train for this wall-clock budget: the epoch count is set from the first epoch's time")
    p.add_argument("--batch_size", type=int, default=32, help="per process")
    p.add_argument("--eval_batch_size", type=int, default=64)
    p.add_argument("--learning_rate", type=float, default=2e-3)
    p.add_argument("--weight_decay", type=float, default=1e-4)
    p.add_argument("--foreground_weight", type=float, default=10.0, help="extra loss weight on heatmap peaks (0: plain MSE)")
    p.add_argument("--warmup_steps", type=int, default=100)
    p.add_argument("--gradient_accumulation_steps", type=int, default=1)
    p.add_argument("--mixed_precision", default=None, choices=["no", "fp16", "bf16"], help="default: accelerate launch's setting")
    p.add_argument("--no_augment", action="store_true")
    p.add_argument("--rotation_deg", type=float, default=Augmentation.max_rotation_deg, help="augmentation: random in-plane rotation up to +- this")
    p.add_argument("--scale_jitter", type=float, default=Augmentation.scale_range[1] - 1, help="augmentation: random zoom in 1 +- this")
    p.add_argument("--occlusion_prob", type=float, default=Augmentation.occlusion_prob, help="augmentation: chance of a random grey rectangle over part of the face")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--num_workers", type=int, default=0)
    p.add_argument("--average_last", type=int, default=0,
                   help="also average the weights at the end of each of the last N epochs (stochastic weight averaging); "
                        "the average is evaluated at the end and exported if it beats every single epoch (0: off)")
    p.add_argument("--checkpoints_total_limit", type=int, default=2)
    p.add_argument("--resume_from_checkpoint", default=None, help="a checkpoint folder or 'latest'")
    p.add_argument("--init_from", default=None,
                   help="start from a saved model's weights (folder or Hub id; its config.json sets the architecture) with a fresh optimizer and schedule; "
                        "with --channels / --num_stacks the model is first grown to that size, computing the same heatmaps (fkp.model.grow)")
    p.add_argument("--report_to", default=None, help="tracker: tensorboard, wandb, ... (default none)")
    p.add_argument("--push_to_hub", action="store_true")
    p.add_argument("--hub_model_id", default=None)
    return p.parse_args(argv)


class TrainerState:
    """Progress saved with every checkpoint (via accelerator.register_for_checkpointing)."""

    def __init__(self):
        self.epoch, self.best_rmse, self.total_epochs, self.elapsed = 0, math.inf, None, 0.0
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


def heatmap_loss(outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, foreground_weight: float = 10.0) -> torch.Tensor:
    """Weighted MSE between (B, S, K, H, W) outputs and (B, K, H, W) targets, summed over stacks
    and keypoints, averaged over pixels and the batch; keypoints with weight 0 (missing) contribute
    nothing. Pixels are weighted 1 + foreground_weight * target: the optimum is still the target,
    but the all-zero heatmap (where plain MSE stalls for epochs) is no longer a comfortable start."""
    squared = (outputs.float() - targets[:, None]) ** 2 * (1 + foreground_weight * targets[:, None])
    per_keypoint = squared.mean(dim=(-2, -1)) * weights[:, None]
    return per_keypoint.sum(dim=(1, 2)).mean()


def checkpoints(folder: Path) -> list[Path]:
    """checkpoint-N folders, oldest first."""
    return sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))


def latest_checkpoint(folder: Path) -> Path | None:
    found = checkpoints(folder)
    return found[-1] if found else None


def evaluate(model, loader, accelerator, stride: int, refine: bool, sigma: float = 0.0) -> dict:
    model.eval()
    predictions, targets = [], []
    for images, _, _, keypoints in loader:
        predicted, _, _ = predict_with(model, images.contiguous(memory_format=torch.channels_last), stride, refine, sigma=sigma)
        predicted, keypoints = accelerator.gather_for_metrics((predicted, keypoints))
        predictions.append(predicted.cpu().numpy())
        targets.append(keypoints.cpu().numpy())
    model.train()
    return keypoint_metrics(np.concatenate(predictions), np.concatenate(targets))


def main(args: argparse.Namespace) -> dict:
    logging.basicConfig(format="%(asctime)s %(message)s", level=logging.INFO)
    for noisy in ("accelerate", "huggingface_hub"):  # save_state/load_state log ~8 INFO lines per checkpoint
        logging.getLogger(noisy).setLevel(logging.WARNING)
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=args.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
    )
    set_seed(args.seed)
    rank, world = accelerator.process_index, accelerator.num_processes

    with accelerator.main_process_first():
        dataset = load_source(args.dataset, label_x_shift=args.label_x_shift)
        if args.val_dataset:
            train_set, val_set = dataset, load_source(args.val_dataset, label_x_shift=args.label_x_shift)
        else:
            train_set, val_set = split_dataset(dataset, args.val_fraction)
        train_images, train_keypoints = to_arrays(train_set)
        val_images, val_keypoints = to_arrays(val_set)
    if args.average_last < 0:
        raise ValueError(f"--average_last must be 0 (off) or a number of epochs, not {args.average_last}")
    if len(train_images) == 0 or len(val_images) == 0:
        raise ValueError(f"{args.dataset}: need training and validation rows, got {len(train_images)} and {len(val_images)}")

    overrides = {k: getattr(args, k) for k in ("num_stacks", "depth", "channels", "stride", "sigma") if getattr(args, k) is not None}
    if args.init_from:
        fixed = [k for k in overrides if k not in GROWABLE]
        if fixed:
            raise ValueError(f"--init_from takes the architecture from {args.init_from}'s config.json (only --channels and --num_stacks can grow it); "
                             f"drop {', '.join('--' + k for k in fixed)}")
        model = grow(load_model(args.init_from), **overrides).train()
    else:
        model = build_model(args.model_config, **overrides)
    model = model.to(memory_format=torch.channels_last)  # ~1.3x faster convs on CPU
    stride, sigma, refine = model.stride, model.sigma, model.refine
    augmentation = None if args.no_augment else Augmentation(
        max_rotation_deg=args.rotation_deg, scale_range=(1 - args.scale_jitter, 1 + args.scale_jitter), occlusion_prob=args.occlusion_prob)
    train_data = HeatmapDataset(train_images, train_keypoints, stride, sigma, augmentation, seed=args.seed)
    val_data = HeatmapDataset(val_images, val_keypoints, stride, sigma)
    train_loader = torch.utils.data.DataLoader(train_data, args.batch_size, shuffle=True, drop_last=len(train_data) > args.batch_size * world, num_workers=args.num_workers)
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
    model, optimizer, train_loader, val_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, val_loader, scheduler)
    accelerator.register_for_checkpointing(state)
    checkpoint_dir = output_dir / "checkpoints"

    if args.resume_from_checkpoint:
        path = latest_checkpoint(checkpoint_dir) if args.resume_from_checkpoint == "latest" else Path(args.resume_from_checkpoint)
        if path is None:
            logger.info("no checkpoint in %s; starting from scratch", checkpoint_dir)
        else:
            accelerator.load_state(str(path))
            if not args.time_budget_minutes:  # --epochs may extend (or shorten) a resumed run
                state.total_epochs = args.epochs
            logger.info("resumed from %s at epoch %d (best RMSE %.3f)", path, state.epoch, state.best_rmse)

    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        accelerator.init_trackers("fkp", config={k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))})
    logger.info("%d train / %d validation images, %d process(es), %s", len(train_data), len(val_data), world, accelerator.device)

    samples_seen = 0
    started = time.time() - state.elapsed
    while state.total_epochs is None or state.epoch < state.total_epochs:
        train_data.set_epoch(state.epoch)
        epoch_start, losses = time.time(), []
        progress = tqdm(train_loader, desc=f"epoch {state.epoch + 1}/{state.total_epochs or '?'}", disable=not accelerator.is_local_main_process, leave=False)
        for images, heatmaps, weights, _ in progress:
            with accelerator.accumulate(model):
                loss = heatmap_loss(model(images.contiguous(memory_format=torch.channels_last)), heatmaps, weights, args.foreground_weight)
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            losses.append(loss.item())
            samples_seen += len(images)
            progress.set_postfix(loss=f"{losses[-1]:.4f}")
        epoch_seconds = time.time() - epoch_start
        metrics = evaluate(model, val_loader, accelerator, stride, refine, sigma)
        train_loss = accelerator.reduce(torch.tensor(np.mean(losses), device=accelerator.device), "mean").item()
        state.epoch += 1
        state.elapsed = time.time() - started
        if state.total_epochs is None:  # time budget: decide on rank 0 from the first epoch, share with all ranks
            decision = [max(1, int(args.time_budget_minutes * 60 / max(state.elapsed, 1e-6)))]
            state.total_epochs = broadcast_object_list(decision)[0]
        record = {"epoch": state.epoch, "train_loss": train_loss, "val_rmse": metrics["rmse"], "val_nme": metrics["nme"],
                  "images_per_second": len(train_data) / epoch_seconds, "elapsed_seconds": state.elapsed, "lr": scheduler.get_last_lr()[0]}
        state.history.append(record)
        accelerator.log(record, step=state.epoch)
        logger.info("epoch %d/%d: loss %.4f, val RMSE %.3f px, NME %.4f, %.0f img/s", state.epoch, state.total_epochs, train_loss, metrics["rmse"], metrics["nme"], record["images_per_second"])

        if accelerator.is_main_process:  # the learning curve so far, readable while training runs
            write_summary(output_dir, state, time.time() - started)
        if metrics["rmse"] < state.best_rmse:
            state.best_rmse = metrics["rmse"]
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                export(accelerator.unwrap_model(model), output_dir, {**vars(args), "epochs": state.total_epochs}, {**metrics, **record, "num_processes": world}, rank)
        if args.average_last and state.epoch > state.total_epochs - args.average_last:
            if state.averaged_epochs and state.averaged_epochs[0] <= state.total_epochs - args.average_last:
                # a resume lengthened the schedule: start a new window (the old epochs' weights are not kept one by one)
                state.average, state.averaged_epochs = None, []
            state.add_to_average(accelerator.unwrap_model(model).state_dict())
        accelerator.save_state(str(checkpoint_dir / f"checkpoint-{state.epoch}"))  # every rank: each saves its own RNG state
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            for old in checkpoints(checkpoint_dir)[: -args.checkpoints_total_limit]:
                shutil.rmtree(old, ignore_errors=True)

    if state.average is not None and state.average_metrics is None:
        evaluate_average(state, model, val_loader, accelerator, output_dir, args, world, rank, stride, refine, sigma)
        accelerator.save_state(str(checkpoint_dir / f"checkpoint-{state.epoch}"))  # a resume must know the average's result
        accelerator.wait_for_everyone()

    per_rank = gather_object([{"rank": rank, "samples": samples_seen}])
    accelerator.wait_for_everyone()
    summary = None
    if accelerator.is_main_process:
        summary = write_summary(output_dir, state, time.time() - started, per_rank)
        if (output_dir / "config.json").exists():  # the card and curve again, with the whole history (and the average)
            from fkp.card import write_model_card

            write_model_card(output_dir)
        if args.push_to_hub:
            push_folder(output_dir, args.hub_model_id or output_dir.name)
    accelerator.end_training()
    return summary


def evaluate_average(state: TrainerState, model, val_loader, accelerator, output_dir: Path, args, world: int, rank: int,
                     stride: int, refine: bool, sigma: float) -> None:
    """Evaluate the --average_last weights; export them if they beat the best single epoch."""
    averaged = copy.deepcopy(accelerator.unwrap_model(model))
    averaged.load_state_dict(state.average)
    metrics = evaluate(averaged, val_loader, accelerator, stride, refine, sigma)
    first, last = state.averaged_epochs[0], state.averaged_epochs[-1]
    state.average_metrics = {"epochs": [first, last], "val_rmse": metrics["rmse"], "val_nme": metrics["nme"]}
    logger.info("average of epochs %d-%d: val RMSE %.3f px (best single epoch %.3f)", first, last, metrics["rmse"], state.best_rmse)
    if metrics["rmse"] < state.best_rmse:
        state.best_rmse = metrics["rmse"]
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            record = {"epoch": last, "averaged_epochs": [first, last], "val_rmse": metrics["rmse"], "val_nme": metrics["nme"],
                      "elapsed_seconds": state.elapsed}
            export(averaged, output_dir, {**vars(args), "epochs": state.total_epochs}, {**metrics, **record, "num_processes": world}, rank)


def push_folder(output_dir: Path, repo_id: str) -> str:
    """Upload the exported model folder (weights, config, card, learning curve, metrics; not the
    checkpoints) to a Hub model repository; returns its URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo(repo_id, exist_ok=True, repo_type="model")
    api.upload_folder(folder_path=str(output_dir), repo_id=repo_id, repo_type="model",
                      ignore_patterns=["checkpoints/*", "logs/*"], commit_message="fkp: trained model")
    logger.info("pushed %s to %s", output_dir, url)
    return str(url)


def write_summary(output_dir: Path, state: TrainerState, wall_seconds: float, ranks: list | None = None) -> dict:
    """train_summary.json: best RMSE, epochs and the per-epoch history of the whole run (resumes included)."""
    summary = {"best_val_rmse": state.best_rmse, "epochs": state.epoch, "total_epochs": state.total_epochs,
               "wall_seconds": wall_seconds, "ranks": ranks, "history": state.history, "average": state.average_metrics}
    (output_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def export(model, output_dir: Path, run_args: dict, metrics: dict, rank: int = 0) -> None:
    """Write the model (config.json + model.safetensors), its metrics and the training arguments
    (``run_args``: the command line, with "epochs" as the run really scheduled them)."""
    from fkp.card import write_model_card

    model.save_pretrained(output_dir)
    (output_dir / "metrics.json").write_text(json.dumps({**metrics, "exported_by_rank": rank}, indent=2))
    (output_dir / "training_args.json").write_text(json.dumps(run_args, indent=2))
    write_model_card(output_dir)  # replaces the mixin's generic card
    umask = os.umask(0)
    os.umask(umask)
    for path in output_dir.iterdir():  # safetensors writes 0600 files; a model is for sharing
        if path.is_file():
            path.chmod(0o666 & ~umask)
    print(f"rank {rank} exported model with val RMSE {metrics['rmse']:.3f} px to {output_dir}", flush=True)


if __name__ == "__main__":
    main(parse_args())
