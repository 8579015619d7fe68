"""Face detectors as plug-ins chosen by name (after face-alignment's ``detection/``):

    base.py           FaceDetector (detect, crop, frame_scores, fit_crop) and Box
    blazeface.py      BlazeFaceDetector, the default: MediaPipe's BlazeFace, any in-plane angle up to ~45 degrees
    blazeface_net.py  the BlazeFace network in PyTorch, its decoding, and the one-time .tflite conversion
    haar.py           HaarFaceDetector: OpenCV's frontal Haar cascade, upright faces only
    calibrate.py      ``fkp calibrate detector``: fit a detector's crop on labelled photos

Each detector's crop is calibrated on the ytf68 photos by
``fkp calibrate detector --detector NAME --data ../shared/data/ytf68 --label-x-shift -1.3``.
"""

from __future__ import annotations

from .base import Box, FaceDetector
from .blazeface import BlazeFaceDetector
from .haar import HaarFaceDetector

DETECTORS: dict[str, type[FaceDetector]] = {"blazeface": BlazeFaceDetector, "haar": HaarFaceDetector}


def create_detector(name: str = "blazeface", **options) -> FaceDetector:
    """A new detector by name (see DETECTORS), with its options."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; choose from {sorted(DETECTORS)}")
    return DETECTORS[name](**options)


__all__ = ["DETECTORS", "BlazeFaceDetector", "Box", "FaceDetector", "HaarFaceDetector", "create_detector"]
