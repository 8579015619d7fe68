"""Deprecated: moved to `fkp.images` (reading images) and `fkp.pipeline` (the faces of a photo);
use `fkp.FaceKeypoints.detect`. Kept for one release."""

import warnings

from .framing import MEAN_FRAME_KEYPOINTS, refined_crop  # noqa: F401
from .images import MAX_PIXELS, NotAnImageError, load_photo, load_photo_reduced, to_original_pixels  # noqa: F401
from .pipeline import (  # noqa: F401
    FACE_SCORE_THRESHOLD,
    FaceResult,
    default_detector,
    face_scores,
    in_original_pixels,
    predict_crops,
    predict_photo,
)

warnings.warn(
    "fkp.photo is deprecated and goes in the next release; see the README's Python API and Layout",
    DeprecationWarning,
    stacklevel=2,
)
