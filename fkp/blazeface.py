"""Deprecated: moved to `fkp.detect.blazeface_net` (kept for one release; ``python -m fkp.blazeface
convert`` still works)."""

from .detect.blazeface_net import *  # noqa: F403
from .detect.blazeface_net import INPUT_SIZE, KEYPOINTS, WEIGHTS, BlazeFace, convert, load_blazeface, main  # noqa: F401

if __name__ == "__main__":
    main()
