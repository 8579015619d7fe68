"""Deprecated: moved to `fkp.tracking` (kept for one release)."""

from .tracking import TRACK_PEAK_THRESHOLD, LiveTracker, OneEuroFilter, Track, write_y4m  # noqa: F401
