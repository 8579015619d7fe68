"""Deprecated: `FaceKeypoints` is `from fkp import FaceKeypoints` (its home is `fkp.landmarker`); the
inference backends moved to `fkp.runtime`. Kept for one release."""

import warnings

from .landmarker import DEFAULT_MODEL, FaceKeypoints, default_model_source  # noqa: F401
from .runtime import BACKENDS, has_onnxruntime, onnx_runtime, onnx_session, optimized  # noqa: F401

warnings.warn(
    "fkp.api is deprecated and goes in the next release; see the README's Python API and Layout",
    DeprecationWarning,
    stacklevel=2,
)
