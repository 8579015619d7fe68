"""How much of the whole-photo error is the crop? The model on a folder's validation photos, each face
cropped five ways, scored in photo pixels against the labels.

    python benchmarks/crop_gap.py --data ../shared/data/helen_afw68 [--model DIR]
    python benchmarks/crop_gap.py --data ../shared/data/ytf68 --label-x-shift -1.3

1. detector: the pipeline's own crop from the detector's eye, nose and mouth points (what
   `FaceKeypoints.detect` does; `fkp evaluate --pipeline photo` scores the same);
2. + refine: a second pass on a crop fitted to the first pass's keypoints (`--refine`);
3. detector, refitted: the detector's crop with its keypoint frame fitted on this folder's training
   side (`fkp calibrate detector` measured on the training photos only);
4. labels: the crop the labels imply, upright in the photo (the training frames' crop: what
   `fkp evaluate` on 96x96 frames scores);
5. labels, turned: the same crop turned upright with the detector's angle.

Rows 4 and 5 need the labels, so no user gets them; they bound what a better crop alone could give.
Crops built from the labels put each face exactly where training frames put it, whatever the face's
shape, so the frame figures of `fkp evaluate` are that much lower than the whole-photo ones.
Only faces the detector finds are scored (the same faces in every row).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fkp import FaceKeypoints  # noqa: E402
from fkp.data import in_validation, read_ytf68_photos  # noqa: E402
from fkp.detect import match_face  # noqa: E402
from fkp.framing import fit_keypoint_frame, landmark_crop, refined_crop  # noqa: E402
from fkp.geometry import apply_affine, crop_matrix, fit_similarity, invert_affine, warp  # noqa: E402
from fkp.keypoints import FRAME_SIZE, ibug68_to_kaggle  # noqa: E402
from fkp.metrics import keypoint_metrics  # noqa: E402
from fkp.pipeline import default_detector  # noqa: E402


def crop_angle(matrix: np.ndarray) -> float:
    """The `crop_matrix` angle (degrees) of a photo -> frame similarity."""
    return float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/helen_afw68", help="a ytf68-layout folder")
    parser.add_argument("--label-x-shift", type=float, default=0.0, help="photo pixels added to every x label")
    parser.add_argument(
        "--model", default=None, help="a shipped model's name, a model folder or Hub id (default: the fast model)"
    )
    args = parser.parse_args()

    predictor, detector = FaceKeypoints(args.model), default_detector()
    train_pairs, val_faces = [], []  # (box, landmarks) on the training side; (box, landmarks, gray) to score
    for name, person, photo, landmarks in read_ytf68_photos(args.data, label_x_shift=args.label_x_shift):
        boxes = detector.detect(photo)
        index = match_face(boxes, landmarks)
        if index is None:
            continue
        if in_validation(person, name):
            val_faces.append((boxes[index], landmarks, cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)))
        else:
            train_pairs.append((boxes[index], landmarks))
    refitted_frame = fit_keypoint_frame(train_pairs, len(detector.keypoint_frame))

    def keypoints_in_photo(gray: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        keypoints, _, _ = predictor.predict_frames(warp(gray, matrix)[None])
        return apply_affine(invert_affine(matrix), keypoints[0])

    half = (FRAME_SIZE - 1) / 2
    rows = {name: [] for name in ("detector", "+ refine", "detector, refitted", "labels", "labels, turned")}
    shifts, scales = [], []
    for box, landmarks, gray in val_faces:
        detector_crop = detector.crop(box)
        first = keypoints_in_photo(gray, detector_crop)
        rows["detector"].append(first)
        rows["+ refine"].append(keypoints_in_photo(gray, refined_crop(first)))
        refitted = fit_similarity(box.landmarks[: len(refitted_frame)], refitted_frame)
        rows["detector, refitted"].append(keypoints_in_photo(gray, refitted))
        centre, side = landmark_crop(landmarks)
        rows["labels"].append(keypoints_in_photo(gray, crop_matrix(centre, side)))
        rows["labels, turned"].append(keypoints_in_photo(gray, crop_matrix(centre, side, crop_angle(detector_crop))))
        # the detector's crop seen from the labels' turned crop: its shift (frame px) and scale
        labels_turned = crop_matrix(centre, side, crop_angle(detector_crop))
        relative = detector_crop @ np.vstack([invert_affine(labels_turned), [0, 0, 1]])
        shifts.append(apply_affine(relative, np.array([[half, half]]))[0] - half)
        scales.append(np.sqrt(abs(np.linalg.det(relative[:, :2]))))

    if not val_faces:
        sys.exit(f"{args.data}: the detector found no validation face")
    targets = np.array([ibug68_to_kaggle(landmarks) for _, landmarks, _ in val_faces])
    print(f"{args.data}: {len(val_faces)} validation faces found by the detector; NME and RMSE in photo pixels")
    print(f"{'crop':<22}{'NME':>8}{'RMSE':>8}")
    for name, predicted in rows.items():
        metrics = keypoint_metrics(np.array(predicted), targets)
        print(f"{name:<22}{metrics['nme']:>8.4f}{metrics['rmse']:>8.2f}")
    shifts, scales = np.array(shifts), np.array(scales)
    print(
        f"the detector's crop against the labels' (turned), in frame pixels: shift mean "
        f"({shifts[:, 0].mean():+.2f}, {shifts[:, 1].mean():+.2f}), spread ({shifts[:, 0].std():.2f}, "
        f"{shifts[:, 1].std():.2f}); scale mean {scales.mean():.3f}, spread {scales.std():.3f}"
    )


if __name__ == "__main__":
    main()
