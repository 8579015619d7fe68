"""Deprecated: moved to `fkp.detect.blazeface_net` (kept for one release; ``python -m fkp.blazeface
convert`` still works)."""

import warnings

from .detect.blazeface_net import *  # noqa: F403
from .detect.blazeface_net import INPUT_SIZE, KEYPOINTS, WEIGHTS, BlazeFace, convert, load_blazeface, main  # noqa: F401

warnings.warn(
    "fkp.blazeface is deprecated and goes in the next release; see the README's Python API and Layout",
    DeprecationWarning,
    stacklevel=2,
)

if __name__ == "__main__":
    main()
