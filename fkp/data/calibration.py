"""Label statistics behind `fkp calibrate framing`: the per-keypoint mean and spread of a set of
labels (`keypoint_statistics`), and the crop framing fitted so that ytf68 faces cropped by it have
their keypoints where Kaggle's training labels have them on average (`calibrate_framing`, which
compares the two sets of statistics; `fkp.framing.LANDMARK_FRAMING` holds the result in use).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..framing import Framing, fit_framing, landmark_crop
from ..geometry import apply_affine, crop_matrix
from ..keypoints import KAGGLE_COLUMNS, ibug68_to_kaggle
from .ytf68 import read_landmarks, ytf68_tables


def keypoint_statistics(keypoints: np.ndarray) -> pd.DataFrame:
    """Per-keypoint mean and std of x and y over present points of (N, 15, 2) ``keypoints``, indexed by
    Kaggle column name."""
    flat = keypoints.reshape(len(keypoints), -1)
    return pd.DataFrame(
        {"mean": np.nanmean(flat, axis=0), "std": np.nanstd(flat, axis=0), "count": np.isfinite(flat).sum(0)},
        index=KAGGLE_COLUMNS,
    )


def compare_statistics(converted: np.ndarray, kaggle: np.ndarray) -> pd.DataFrame:
    """Kaggle's and our per-column means and stds side by side (2 decimals), from (N, 15, 2) arrays."""
    ours, theirs = keypoint_statistics(converted), keypoint_statistics(kaggle)
    return pd.DataFrame(
        {"kaggle_mean": theirs["mean"], "ours_mean": ours["mean"], "kaggle_std": theirs["std"], "ours_std": ours["std"]}
    ).round(2)


def ytf68_landmarks(folder: str | Path, label_x_shift: float = 0.0) -> np.ndarray:
    """(N, 68, 2) landmarks of every table of a ytf68-layout folder (photos unread), x moved by
    ``label_x_shift`` photo pixels."""
    tables = ytf68_tables(folder)
    if not tables:
        raise DataError(f"{folder}: no NAME_frames_keypoints.csv with a NAME/ image folder beside it")
    landmarks = np.concatenate([read_landmarks(csv) for csv, _ in tables])
    landmarks[..., 0] += label_x_shift
    return landmarks


def calibrate_framing(kaggle: np.ndarray, landmarks68: np.ndarray) -> tuple[Framing, pd.DataFrame]:
    """The framing fitted to Kaggle's (N, 15, 2) labels' means for faces with (M, 68, 2) landmarks, and
    the `compare_statistics` table of the keypoints it gives those faces against Kaggle's."""
    framing = fit_framing(landmarks68, np.nanmean(kaggle, axis=0))
    converted = [
        apply_affine(crop_matrix(*landmark_crop(face, framing)), ibug68_to_kaggle(face)) for face in landmarks68
    ]
    return framing, compare_statistics(np.stack(converted), kaggle)
