"""MediaPipe's full-range BlazeFace (`blazeface_full_net`) as a detector: the whole photo in one
192x192 pass, plus windows only where faces may be too small for it (large photos, panoramas).
Its 6 keypoints are the short-range model's: the crop is placed and turned as in `blazeface`.
fkp's default detector (`fkp.detect.DEFAULT_DETECTOR`)."""

from __future__ import annotations

import numpy as np

from .blazeface import BlazeFaceDetector
from .blazeface_full_net import INPUT_SIZE, decode, load_blazeface_full, weighted_nms

# Where the full-range model's right eye, left eye, nose tip and mouth centre sit on average in the
# 96x96 training frame; fitted by `fkp calibrate detector --detector blazeface_full` on the 3,446 ytf68
# photos (labels corrected by -1.3 px; all faces found; crop centre error median 0.036 of the side).
BLAZEFACE_FULL_KEYPOINT_FRAME = np.array([[31.28, 38.25], [64.95, 37.89], [48.72, 58.63], [48.92, 75.65]])


class BlazeFaceFullDetector(BlazeFaceDetector):
    """MediaPipe's full-range BlazeFace (`blazeface_full_net`): one pass over the whole photo,
    letterboxed to 192x192, finds faces down to ``FACE_SHARE`` of the photo's longer side. The default.

    Windows (`BlazeFaceDetector.windows`, with this model's ``FACE_SHARE``): the whole photo, then
    windows of half the size with 50% overlap, and so on, only while a ``min_face``-pixel face would
    be smaller than ``FACE_SHARE`` of the window: one pass for photos up to ``min_face / FACE_SHARE``
    pixels, more for larger ones and for panoramas. Crops and the face probability carried by each
    box (`Box.score`, which the pipeline's face score uses) are as in `BlazeFaceDetector`.
    """

    # Shares of a 192-pixel window that a face (its Kaggle-like crop side) must cover to be found, at
    # least and at most: measured on 150 ytf68 validation faces (benchmarks/blazeface_full.py
    # --shares), at threshold 0.5 it finds 97% at 0.08, 99% at 0.09, all from 0.1 to 0.45, 99% at
    # 0.55, 98% at 0.6 (unlike the short-range model, it misses faces that fill the window).
    FACE_SHARE = 0.09
    MAX_SHARE = 0.6

    # Detection threshold: MediaPipe's 0.5 (at 0.65 it finds 72% of faces at 0.55 of the window).
    THRESHOLD = 0.5

    name = "blazeface_full"
    CHUNK = 16  # windows per network call: ~2.5x the short-range model's activations per window

    KEYPOINT_FRAME = BLAZEFACE_FULL_KEYPOINT_FRAME
    input_size = INPUT_SIZE
    load_net = staticmethod(load_blazeface_full)
    decode = staticmethod(decode)
    nms = staticmethod(weighted_nms)

    def window_sides(self, height: int, width: int) -> list[float]:
        """The window sides (photo pixels), largest first (`BlazeFaceDetector.windows` tiles them). The
        first scale is the side where a face as large as the photo's short side fills ``MAX_SHARE`` of a
        window: one window, the whole photo letterboxed, unless the photo is more than twice as long
        as it is high or wide (then windows along it, overlapping by half). Each next scale halves the
        side, but not below ``min_face / FACE_SHARE`` (the largest window that finds ``min_face``-pixel
        faces), while such faces would cover less than ``FACE_SHARE`` of the previous scale's window."""
        longest, shortest = max(height, width), min(height, width)
        smallest = self.min_face / self.FACE_SHARE  # the largest window that still finds a min_face face
        side = max(shortest / self.MAX_SHARE, 1.0)
        if longest <= 2 * shortest:  # not a panorama: the whole photo, letterboxed, at once
            side = max(side, float(longest))
        sides = [side]
        while sides[-1] > smallest:
            sides.append(max(sides[-1] / 2, smallest))
        return sides

    def frame_scores(self, frames: np.ndarray) -> None:
        """None: a crop that no detection scored is looked at by `fkp.pipeline.CROP_CLASSIFIER`, the
        short-range model, made for faces that fill its window (this model misses them)."""
        return None
