"""Knowledge distillation for train.py: trained fkp models (the teachers) label every training frame,
and the student learns from those labels beside the human ones (``--teacher DIR [DIR ...]
--distill_weight A``: loss = (1 - A) * loss on the human labels + A * loss on the teachers').

- The teachers' label of a frame is their mean keypoints with flip test (an ensemble is a better
  teacher than any of its members), in their calibrated convention where they have offsets.
- Labels are keypoints, encoded with the student's own codec, so a teacher may have any output
  stride, size or sigma (a stride-2 teacher for a stride-4 student).
- Each frame is labelled once, before training, and its label moves with the frame's augmentation
  as the human label does (`fkp.augment.Augmentation` takes both). Asking the teachers about every
  augmented batch instead cost 4x the student's own training step for a stride-2 teacher on the
  CPU (measured in issue 17); a keypoint moves exactly with the image, so what is lost is only
  the teachers' view of the augmented pixels (blur, contrast, occlusion).
- Keypoints the human labels miss get the teachers' label: distillation also fills gaps.
- The labels are kept in the run folder (TEACHER_LABELS): a resumed run reads them back instead of
  asking the teachers again, so it learns from the same labels even if a teacher folder changed since.

With ``--teacher_targets heatmaps`` (`HeatmapTeacher`) the teachers are asked about every augmented
batch instead, and their heatmaps themselves are the second target: they see the augmented pixels, and
a heatmap also says how sure a teacher is and where else it looks. On the CPU each teacher runs its
int8 copy (`fkp quantize`) where it has one, which made this affordable there: 0.21 s a step for the
fast design's batch of 32 with the accurate model as teacher, against 1.12 s with the teacher in
PyTorch (issue 17, where it gave the best fast-design model). The maps are the teachers' raw output:
their calibrated offsets are not applied, so calibrate the student after training (`fkp calibrate
keypoints`), as any run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import FkpError
from .heatmaps import HeatmapCodec
from .model import load_model, predict_with
from .run_folder import TEACHER_LABELS
from .runtime import has_onnxruntime, int8_model_path, int8_runtime
from .shipped import model_source


@torch.inference_mode()
def teacher_keypoints(
    sources: Sequence[str], images: np.ndarray, device: str | torch.device = "cpu", batch_size: int = 64
) -> np.ndarray:
    """(N, K, 2) float32 frame-pixel keypoints: the mean over the teachers (model folders or Hub ids,
    `fkp.model.load_model`) of each one's flip-test prediction on (N, 96, 96) uint8 frames."""
    if not sources:
        raise ValueError("distillation needs at least one teacher")
    total = None
    for source in sources:
        # loaded on the CPU, then moved: safetensors refuses some device names Accelerate uses ("cpu:0")
        model = load_model(source).to(device).eval().to(memory_format=torch.channels_last)
        predictions = []
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[start : start + batch_size]).to(device).float()[:, None] / 255
            batch = batch.contiguous(memory_format=torch.channels_last)
            keypoints, _, _ = predict_with(model, batch, model.codec, flip_test=True, offsets=model.offsets(True))
            predictions.append(keypoints.float().cpu().numpy())
        predicted = np.concatenate(predictions) if predictions else np.zeros((0, model.num_keypoints, 2), np.float32)
        total = predicted if total is None else total + predicted
    return (total / len(sources)).astype(np.float32)


def save_teacher_labels(output_dir: str | Path, labels: np.ndarray) -> Path:
    """Write the run's teacher labels to ``output_dir``/TEACHER_LABELS (a temporary name, then renamed)."""
    path = Path(output_dir) / TEACHER_LABELS
    partial = path.with_name(path.name + ".tmp")
    with open(partial, "wb") as handle:
        np.save(handle, np.asarray(labels, np.float32))
    os.replace(partial, path)
    return path


def stored_teacher_labels(output_dir: str | Path, count: int, num_keypoints: int) -> np.ndarray | None:
    """The labels a run stored for its ``count`` training frames; None if there are none, or they are
    unreadable or of another shape (then the teachers label the frames again)."""
    path = Path(output_dir) / TEACHER_LABELS
    try:
        labels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    fits = isinstance(labels, np.ndarray) and labels.shape == (count, num_keypoints, 2) and labels.dtype == np.float32
    return labels if fits else None


def pooling_factor(teacher: HeatmapCodec, student: HeatmapCodec) -> int:
    """How many teacher cells make one student cell along each axis; ValueError unless the input sizes
    are equal and the student's stride is a multiple of the teacher's."""
    factor = student.stride // teacher.stride
    if teacher.input_size != student.input_size or factor < 1 or factor * teacher.stride != student.stride:
        raise ValueError(
            f"its frames are {teacher.input_size} px at stride {teacher.stride}, the student's {student.input_size} "
            f"px at stride {student.stride}: heatmap targets need the same frame size and a teacher stride that "
            "divides the student's (--teacher_targets keypoints takes any teacher)"
        )
    return factor


def widening(teacher: HeatmapCodec, student: HeatmapCodec) -> float:
    """The sigma (student cells) of the blur that widens a teacher's pooled peaks to the student's sigma:
    a peak of sigma s teacher cells is s / factor student cells wide, and pooling adds a box's variance;
    0 where they are already as wide."""
    factor = pooling_factor(teacher, student)
    variance = (teacher.sigma / factor) ** 2 + (factor**2 - 1) / (12 * factor**2)
    return max(student.sigma**2 - variance, 0.0) ** 0.5


def resample_heatmaps(heatmaps: torch.Tensor, teacher: HeatmapCodec, student: HeatmapCodec) -> torch.Tensor:
    """A teacher's (B, K, H, W) heatmaps on the student's grid: average-pooled by `pooling_factor` (cell
    centres line up: a stride-4 cell is the mean of the four stride-2 cells around it), then blurred
    by `widening`. Each map keeps the teacher's peak height (its confidence), which pooling alone
    would lower. Within about `widening` cells of the border the blur's zero padding pulls a peak
    inwards (`HeatmapTeacher` leaves such points out)."""
    factor = pooling_factor(teacher, student)
    peaks = heatmaps.amax(dim=(-2, -1), keepdim=True)
    if factor > 1:
        heatmaps = F.avg_pool2d(heatmaps, factor)
    extra = widening(teacher, student)
    wide = blur(heatmaps, extra) if extra >= 1e-3 else heatmaps
    return wide * peaks / wide.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-6)


def blur(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, K, H, W) maps convolved with a Gaussian of ``sigma`` cells (zero padding)."""
    radius = int(np.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=heatmaps.dtype, device=heatmaps.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b * k, 1, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0)), kernel.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius)), kernel.view(1, 1, -1, 1))
    return flat.reshape(b, k, h, w)


def channels_last(network: torch.nn.Module):
    """``network`` as a callable that first lays its images out channels-last, as its weights are."""
    return lambda images: network(images.contiguous(memory_format=torch.channels_last))


class HeatmapTeacher:
    """Teachers asked about every training batch (train.py ``--teacher_targets heatmaps``): a callable
    (B, 1, S, S) images in [0, 1] -> the mean of the teachers' last-stack heatmaps (clamped at 0) on
    the student's grid (`resample_heatmaps`), (B, K, H, W) on the images' device, without gradients,
    and (B, K) bool, False where a map's peak lies within `widening` cells of the border (there the
    resampling moves it by 0.06-2 px: give those points no teacher weight).

    ``sources``: model folders, shipped models' names or Hub ids. Each runs its int8 copy in ONNX
    Runtime when ``device`` is the CPU and its folder has a current one (`engines` says which ran), else
    in PyTorch on ``device``: the two differ by about a tenth of a pixel, so the same command trains
    on slightly different targets on a GPU. Frames not ``asked`` about are not run (`__call__`).
    Raises `FkpError` naming a teacher whose frames or stride do not fit the student's."""

    def __init__(self, sources: Sequence[str], student: HeatmapCodec, device: str | torch.device = "cpu"):
        if not sources:
            raise ValueError("distillation needs at least one teacher")
        self.student, self.members, self.engines, self.margin = student, [], [], 0.0
        for source in sources:
            model = load_model(source)  # also checks the folder, with a clear error
            self.num_keypoints = model.num_keypoints
            try:
                self.margin = max(self.margin, widening(model.codec, student))
            except ValueError as error:
                raise FkpError(f"--teacher {source}: {error}") from None
            forward = None
            folder = model_source(source)
            if torch.device(device).type == "cpu" and os.path.isdir(folder) and has_onnxruntime():
                path = int8_model_path(folder)
                forward = int8_runtime(str(path), 0) if path is not None else None
            self.engines.append("int8 ONNX Runtime" if forward is not None else "PyTorch")
            if forward is None:  # loaded on the CPU, then moved (see teacher_keypoints)
                forward = channels_last(model.to(device).eval().to(memory_format=torch.channels_last))
            self.members.append((forward, model.codec))

    @torch.no_grad()  # not inference_mode: the maps are a loss target, saved for the backward pass
    def __call__(self, images: torch.Tensor, asked: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``asked``: (B,) bool, the frames to ask about (e.g. those whose --distill_weight is not 0); the
        others are not run through the teachers and get all-zero maps and no trust."""
        if asked is not None and not bool(asked.all()):
            size = self.student.heatmap_size
            heatmaps = images.new_zeros((len(images), self.num_keypoints, size, size))
            trusted = torch.zeros((len(images), self.num_keypoints), dtype=torch.bool, device=images.device)
            if bool(asked.any()):
                heatmaps[asked], trusted[asked] = self(images[asked])
            return heatmaps, trusted
        total = None
        for forward, codec in self.members:
            heatmaps = forward(images)[:, -1]
            heatmaps = resample_heatmaps(heatmaps.float().to(images.device).clamp_min(0), codec, self.student)
            total = heatmaps if total is None else total + heatmaps
        heatmaps = total / len(self.members)
        size = heatmaps.shape[-1]
        peak = heatmaps.flatten(-2).argmax(-1)
        rows, cols = peak // size, peak % size
        low, high = self.margin, size - 1 - self.margin
        return heatmaps, (rows >= low) & (rows <= high) & (cols >= low) & (cols <= high)
