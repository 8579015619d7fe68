"""dlib's HOG frontal face detector and 68-point shape predictor, the benchmarks' reference landmarker
(benchmark only, never a dependency of fkp: ``pip install dlib-bin face-recognition-models``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def load_dlib():
    """(dlib module, 68-point shape predictor, frontal face detector), or None when dlib or the
    predictor's model file (from face-recognition-models) is not installed."""
    try:
        import dlib
    except ImportError:
        return None
    spec = importlib.util.find_spec("face_recognition_models")  # its __init__ needs pkg_resources: find the file
    if spec is None:
        return None
    model = Path(spec.origin).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    return dlib, dlib.shape_predictor(str(model)), dlib.get_frontal_face_detector()
