"""Deprecated: moved to `fkp.geometry` (crops, warps, fits) and `fkp.augment` (training
augmentation). Kept for one release."""

import warnings

from .augment import Augmentation, mark_outside  # noqa: F401
from .geometry import (  # noqa: F401
    apply_affine,
    crop_matrix,
    fit_similarity,
    flip_matrix,
    invert_affine,
    rotate,
    rotate_photo,
    scale_matrix,
    upright_angle,
    warp,
)

warnings.warn(
    "fkp.transforms is deprecated and goes in the next release; see the README's Python API and Layout",
    DeprecationWarning,
    stacklevel=2,
)
