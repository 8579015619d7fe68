"""fkp: facial keypoint detection (Kaggle's 15 keypoints) with a stacked hourglass network."""

from .keypoints import FLIP_PAIRS, KEYPOINT_NAMES, NUM_KEYPOINTS
from .model import MODEL_CONFIGS, StackedHourglass, build_model, load_model

__version__ = "0.5.0"
__all__ = ["FLIP_PAIRS", "KEYPOINT_NAMES", "MODEL_CONFIGS", "NUM_KEYPOINTS", "StackedHourglass", "build_model", "load_model"]
