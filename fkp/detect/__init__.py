"""Face detectors as plug-ins chosen by name (after face-alignment's ``detection/``):

    base.py           FaceDetector (detect, crop, frame_scores, fit_crop), Box and match_face
    blazeface.py      BlazeFaceDetector: MediaPipe's short-range BlazeFace in windows at several scales, any
                      in-plane angle up to ~45 degrees; also the crop classifier of the face score
    blazeface_net.py  the BlazeFace network in PyTorch, its decoding, and the one-time .tflite conversion
    blazeface_full.py BlazeFaceFullDetector, the default: MediaPipe's full-range BlazeFace, one 192x192 pass
                      for most photos
    blazeface_full_net.py  the full-range network in PyTorch, its anchors and decoding, and its conversion
    haar.py           HaarFaceDetector: OpenCV's frontal Haar cascade, upright faces only

Each detector's crop is calibrated on the ytf68 photos by
``fkp calibrate detector --detector NAME --data ../shared/data/ytf68 --label-x-shift -1.3``.
A detector's module is imported only when it is chosen.
"""

from __future__ import annotations

import importlib
import warnings

from .base import Box, FaceDetector, match_face

# The full-range model: on helen_afw68's and ytf68's validation photos and the examples it finds every
# face the short-range one finds, with fewer false detections, in one pass where the short-range
# model runs 1-10 windows (benchmarks/blazeface_full.py; the README's "Finding faces").
DEFAULT_DETECTOR = "blazeface_full"
# name -> (module, class): imported on first use, so that choosing "haar" loads no BlazeFace
DETECTORS: dict[str, tuple[str, str]] = {
    "blazeface": ("blazeface", "BlazeFaceDetector"),
    "blazeface_full": ("blazeface_full", "BlazeFaceFullDetector"),
    "haar": ("haar", "HaarFaceDetector"),
}


def detector_class(name: str) -> type[FaceDetector]:
    """The detector class registered under ``name`` (see DETECTORS)."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; choose from {sorted(DETECTORS)}")
    module, cls = DETECTORS[name]
    return getattr(importlib.import_module(f".{module}", __name__), cls)


def create_detector(name: str = DEFAULT_DETECTOR, **options) -> FaceDetector:
    """A new detector by name (see DETECTORS), with its options."""
    return detector_class(name)(**options)


# Names of the former fkp/detect.py module, kept for one release.
_MOVED = {
    "BlazeFaceDetector": ("fkp.detect.blazeface", "BlazeFaceDetector", False),
    "HaarFaceDetector": ("fkp.detect.haar", "HaarFaceDetector", False),
    "HAAR_FRAMING": ("fkp.detect.haar", "HAAR_FRAMING", True),
    "BLAZEFACE_KEYPOINT_FRAME": ("fkp.detect.blazeface", "BLAZEFACE_KEYPOINT_FRAME", True),
    "box_crop": ("fkp.framing", "box_crop", True),
    "fit_detector_framing": ("fkp.framing", "fit_detector_framing", True),
    "fit_keypoint_frame": ("fkp.framing", "fit_keypoint_frame", True),
}


def __getattr__(name: str):
    if name in _MOVED:
        module, attribute, deprecated = _MOVED[name]
        if deprecated:
            warnings.warn(
                f"fkp.detect.{name} moved to {module}.{attribute}; the old name goes in the next release",
                DeprecationWarning,
                stacklevel=2,
            )
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'fkp.detect' has no attribute {name!r}")


__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "BlazeFaceDetector",
    "Box",
    "FaceDetector",
    "HaarFaceDetector",
    "create_detector",
    "detector_class",
    "match_face",
]
