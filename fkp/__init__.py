"""fkp: the 15 facial keypoints of Kaggle's Facial Keypoints Detection, for every face of a photo or a
video, with a small stacked hourglass network.

    from fkp import FaceKeypoints
    faces = FaceKeypoints().detect("photo.jpg")
    faces[0].keypoints      # (15, 2) x, y in photo pixels, in KEYPOINT_NAMES order (faces: largest first)
    reading_order(faces)    # the faces as `fkp predict` and the demo number them: rows, then left to right

The package's map is in the README ("Layout"). Names are imported on first use, so that
``import fkp`` (and the ``fkp`` command's --help) stays fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

__version__ = "0.7.1"
# The example photos, shipped in the package (in a checkout, fkp/examples links to the repository's
# examples/): `fkp examples` prints this path, and the demo offers them.
EXAMPLES = Path(__file__).parent / "examples"

_HOMES = {
    "FaceKeypoints": "landmarker",
    "FaceResult": "pipeline",
    "reading_order": "pipeline",
    "load_photo": "images",
    "NotAnImageError": "images",
    "FLIP_PAIRS": "keypoints",
    "KEYPOINT_NAMES": "keypoints",
    "NUM_KEYPOINTS": "keypoints",
    "MODEL_CONFIGS": "model",
    "StackedHourglass": "model",
    "build_model": "model",
    "load_model": "model",
}
__all__ = [
    "FLIP_PAIRS",
    "KEYPOINT_NAMES",
    "MODEL_CONFIGS",
    "NUM_KEYPOINTS",
    "FaceKeypoints",
    "FaceResult",
    "NotAnImageError",
    "StackedHourglass",
    "build_model",
    "load_model",
    "load_photo",
    "reading_order",
]

if TYPE_CHECKING:
    from .images import NotAnImageError, load_photo
    from .keypoints import FLIP_PAIRS, KEYPOINT_NAMES, NUM_KEYPOINTS
    from .landmarker import FaceKeypoints
    from .model import MODEL_CONFIGS, StackedHourglass, build_model, load_model
    from .pipeline import FaceResult, reading_order


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'fkp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({"__version__", "EXAMPLES", *_HOMES})
