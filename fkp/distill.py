"""Knowledge distillation for train.py: one or more trained fkp models (the teachers) label each
augmented training batch, and the student learns from those labels beside the human ones
(``--teacher DIR [DIR ...] --distill_weight A``: loss = (1 - A) * human + A * teacher).

The teachers' labels are keypoints, not heatmaps: each teacher predicts with flip test, the
teachers' keypoints are averaged (an ensemble is a better teacher than any of its members) and
encoded with the student's own codec. So a teacher may have any output stride, size or sigma
(a stride-2 teacher for a stride-4 student), and its label costs the student nothing to read.
Keypoints a human label marks missing get the teacher's label; keypoints the augmentation moved
out of the frame get none (a teacher can only point at the frame's border there).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .heatmaps import HeatmapCodec
from .keypoints import FRAME_SIZE
from .model import load_model, predict_with


class Teachers:
    """Frozen fkp models whose mean flip-test keypoints are soft labels for a student.

    ``sources``: model folders or Hub ids (`fkp.model.load_model`); their calibrated keypoint
    offsets (config.json) apply, so a calibrated teacher labels in its calibrated convention."""

    def __init__(self, sources: Sequence[str], device: str | torch.device = "cpu"):
        if not sources:
            raise ValueError("distillation needs at least one teacher")
        self.sources = list(sources)
        self.models = [load_model(source, device=device).eval().requires_grad_(False) for source in self.sources]

    @torch.no_grad()
    def keypoints(self, images: torch.Tensor) -> torch.Tensor:
        """(B, K, 2) mean keypoints, in frame pixels, of the teachers on (B, 1, 96, 96) images in [0, 1]."""
        predictions = [
            predict_with(model, images, model.codec, flip_test=True, offsets=model.offsets(True))[0]
            for model in self.models
        ]
        return torch.stack(predictions).float().mean(dim=0)

    def targets(
        self, images: torch.Tensor, labels: torch.Tensor, codec: HeatmapCodec
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Heatmaps (B, K, H, W) of the teachers' keypoints in ``codec`` (the student's) and their
        weights (B, K): 1, except 0 where the human ``labels`` (B, K, 2; NaN = missing) put a point
        outside the frame."""
        keypoints = self.keypoints(images).cpu().numpy()
        heatmaps = np.stack([codec.encode(points)[0] for points in keypoints])
        labels = labels.detach().cpu().numpy()
        outside = np.isfinite(labels).all(axis=-1) & ((labels < -0.5) | (labels > FRAME_SIZE - 0.5)).any(axis=-1)
        weights = (~outside).astype(np.float32)
        return torch.from_numpy(heatmaps).to(images.device), torch.from_numpy(weights).to(images.device)
