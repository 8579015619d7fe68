"""From a dataset in fkp's schema to training inputs: `to_arrays` gives the images and keypoints as
numpy arrays, and `HeatmapDataset` serves them to a torch DataLoader as (image, heatmaps, weights,
keypoints) items, augmented reproducibly and encoded by a `fkp.heatmaps.HeatmapCodec`.
"""

from __future__ import annotations

import numpy as np

from ..keypoints import FRAME_SIZE, NUM_KEYPOINTS


def to_arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 96, 96) uint8 and keypoints (N, 15, 2) float32 of a dataset in fkp's schema."""
    if len(dataset) == 0:
        return np.zeros((0, FRAME_SIZE, FRAME_SIZE), np.uint8), np.zeros((0, NUM_KEYPOINTS, 2), np.float32)
    images = np.stack([np.asarray(img.convert("L")) for img in dataset["image"]])
    keypoints = np.asarray(dataset.with_format("numpy")["keypoints"], dtype=np.float32)
    return images, keypoints


class HeatmapDataset:
    """Torch-style dataset of (image, heatmaps, weights, keypoints) for training and validation.

    image (1, 96, 96) float32 in [0, 1]; heatmaps (K, H, W) and weights (K,) from ``codec`` (an
    `fkp.heatmaps.HeatmapCodec`, e.g. the model's `codec`);
    keypoints (K, 2) float32 in frame pixels, NaN where missing. ``augmentation`` (an
    `fkp.augment.Augmentation`) is applied with a per-item generator seeded from ``seed``, the
    epoch (``set_epoch``) and the index, so runs are reproducible for any number of workers/processes.
    With ``teacher_keypoints`` (N, K, 2) (`fkp.distill`), each item also carries the teachers'
    heatmaps and weights, moved by the same augmentation: (image, heatmaps, weights, keypoints,
    teacher heatmaps, teacher weights). ``teacher_share`` (N,) in [0, 1] (train.py's
    ``--distill_weight`` per frame; default 0.5) scales a frame's teacher weights by it and its human
    weights by 1 - it, so that the sum of the two heatmap losses is the distillation loss. With
    ``teacher_share`` alone (teachers asked about each batch, `fkp.distill.HeatmapTeacher`), the human
    weights are scaled by 1 - share and the item ends with the share (a float32 scalar):
    (image, heatmaps, weights, keypoints, share).
    """

    def __init__(
        self,
        images: np.ndarray,
        keypoints: np.ndarray,
        codec,
        augmentation=None,
        seed: int = 0,
        teacher_keypoints: np.ndarray | None = None,
        teacher_share: np.ndarray | None = None,
    ):
        if teacher_keypoints is not None and teacher_keypoints.shape != keypoints.shape:
            raise ValueError(f"teacher keypoints {teacher_keypoints.shape} do not match keypoints {keypoints.shape}")
        self.teacher_share = None
        if teacher_keypoints is not None or teacher_share is not None:
            share = np.full(len(keypoints), 0.5) if teacher_share is None else np.asarray(teacher_share, float)
            if share.shape != (len(keypoints),) or not np.all((share >= 0) & (share <= 1)):
                raise ValueError(f"teacher_share must be {len(keypoints)} values in [0, 1], got shape {share.shape}")
            self.teacher_share = share.astype(np.float32)
        self.images, self.keypoints, self.teacher_keypoints = images, keypoints, teacher_keypoints
        self.codec, self.augmentation, self.seed, self.epoch = codec, augmentation, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        import torch

        image, keypoints = self.images[index], self.keypoints[index]
        has_teacher = self.teacher_keypoints is not None
        if has_teacher:  # one label set more, moved by the same augmentation
            keypoints = np.stack([keypoints, self.teacher_keypoints[index]])
        if self.augmentation is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, keypoints = self.augmentation(image, keypoints, rng)
        human, *teacher = keypoints if has_teacher else [keypoints]
        heatmaps, weights = self.codec.encode(human)
        if self.teacher_share is not None:
            weights = weights * (1 - self.teacher_share[index])
        item = (
            torch.from_numpy(image.astype(np.float32) / 255.0)[None],
            torch.from_numpy(heatmaps),
            torch.from_numpy(weights),
            torch.from_numpy(np.asarray(human, dtype=np.float32)),
        )
        for points in teacher:
            teacher_heatmaps, teacher_weights = self.codec.encode(points)
            teacher_weights = teacher_weights * self.teacher_share[index]
            item += (torch.from_numpy(teacher_heatmaps), torch.from_numpy(teacher_weights))
        if self.teacher_share is not None and not has_teacher:  # the teachers' heatmaps come per batch
            item += (torch.tensor(self.teacher_share[index]),)
        return item
