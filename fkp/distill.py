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
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .model import load_model, predict_with
from .run_folder import TEACHER_LABELS


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
