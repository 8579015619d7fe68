"""Deprecated: moved to `fkp.tracking` (kept for one release)."""

import warnings

from .tracking import TRACK_PEAK_THRESHOLD, LiveTracker, OneEuroFilter, Track, write_y4m  # noqa: F401

warnings.warn(
    "fkp.live is deprecated and goes in the next release; see the README's Python API and Layout",
    DeprecationWarning,
    stacklevel=2,
)
