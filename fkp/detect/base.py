"""What every face detector offers (`FaceDetector`), what it returns (`Box`), and which box holds
a labelled face (`match_face`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..keypoints import ibug68_to_kaggle


@dataclass(frozen=True, eq=False)
class Box:
    """A face box in photo pixels: top-left (x, y), width, height; the detector's score, the
    `crop_matrix` angle (degrees) that turns the face upright, and the detector's own keypoints
    ((6, 2) photo pixels for BlazeFace: `fkp.detect.blazeface_net.KEYPOINTS`), where it has them."""

    x: float
    y: float
    width: float
    height: float
    score: float = 1.0
    angle: float = 0.0
    landmarks: np.ndarray | None = None

    @property
    def center(self) -> np.ndarray:
        return np.array([self.x + self.width / 2, self.y + self.height / 2])

    @property
    def side(self) -> float:
        return float(max(self.width, self.height))

    def contains(self, point) -> bool:
        return self.x <= point[0] <= self.x + self.width and self.y <= point[1] <= self.y + self.height


class FaceDetector:
    """A face detector plug-in (chosen by name: `fkp.detect.create_detector`).

    A detector finds faces (`detect`) and turns each into the square photo -> 96x96 frame crop that
    the training frames used, upright (`crop`), so the keypoint model sees faces framed as in
    training. `fit_crop` calibrates that crop on labelled photos (``fkp calibrate detector``).
    """

    name = ""
    # Whether `Box.score` is the detector's own probability that the box holds a face: the pipeline's
    # face score then takes it as it is (`fkp.pipeline.face_scores`) instead of a second look at the crop.
    scores_are_probabilities = False

    def detect(self, photo: np.ndarray) -> list[Box]:
        """Faces in an (H, W, 3) RGB uint8 photo, largest first."""
        raise NotImplementedError

    def crop(self, box: Box) -> np.ndarray:
        """The 2x3 photo -> 96x96 frame matrix of a detected face, framed as in training, upright."""
        raise NotImplementedError

    def frame_scores(self, frames: np.ndarray) -> np.ndarray | None:
        """The probability that each (N, 96, 96) uint8 face frame shows a face, from the detector's own
        face classifier; None for a detector without one (the pipeline then asks
        `fkp.pipeline.CROP_CLASSIFIER`). Used only for crops that no detector found (`Box` None, or a
        detector whose box score is not a probability)."""
        return None

    def fit_crop(self, pairs: list[tuple[Box, np.ndarray]]) -> str:
        """Fit this detector's crop to the landmark crops of (box, (68, 2) landmarks) pairs, use it, and
        describe the fitted values against the built-in ones (to paste into the source)."""
        raise NotImplementedError


def match_face(boxes: list[Box], landmarks: np.ndarray) -> int | None:
    """Index of the first box (largest first) that holds the labelled face, i.e. contains the
    centroid of its 15 keypoints; None when the detector missed it."""
    centroid = ibug68_to_kaggle(landmarks).mean(axis=0)
    return next((i for i, box in enumerate(boxes) if box.contains(centroid)), None)
