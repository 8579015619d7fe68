"""Do fkp's confidences mean something? Two measurements on the validation people.

    python benchmarks/confidence.py --data ../shared/data/ytf68 --label-x-shift -1.3

1. Per point: Spearman rank correlation between a keypoint's confidence (its heatmap peak) and its
   error, over every point of the validation frames. Negative is good: higher confidence, lower error.
   Also the mean error of the least and most confident fifth of the points.
2. Per face: the face score (`fkp.pipeline.face_scores`) on the validation face frames against
   non-face crops (two crops per photo away from the face, of random size; the cat example as one
   whole-image crop; 40 synthetic textures: noise, blurred noise, stripes, flat grey). Reports the
   ROC AUC, the score percentiles and how many land on each side of FACE_SCORE_THRESHOLD.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fkp.data import VAL_FRACTION, in_validation, read_ytf68_photos, ytf68_frame  # noqa: E402
from fkp.framing import landmark_crop  # noqa: E402
from fkp.geometry import crop_matrix, warp  # noqa: E402
from fkp.images import load_photo  # noqa: E402
from fkp.pipeline import FACE_SCORE_THRESHOLD, face_scores  # noqa: E402


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson correlation of the ranks; ties are rare here)."""
    ranks = lambda v: np.argsort(np.argsort(v)).astype(np.float64)  # noqa: E731
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def roc_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    p, n = np.asarray(positives)[:, None], np.asarray(negatives)[None]
    return float((p > n).mean() + 0.5 * (p == n).mean())


def textures(rng: np.random.Generator, count: int = 40) -> list[np.ndarray]:
    out = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            t = rng.integers(0, 256, (96, 96)).astype(np.uint8)
        elif kind == 1:
            t = cv2.normalize(
                cv2.GaussianBlur(rng.integers(0, 256, (96, 96)).astype(np.float32), (0, 0), 3),
                None,
                0,
                255,
                cv2.NORM_MINMAX,
            ).astype(np.uint8)
        elif kind == 2:
            t = np.tile((np.sin(np.arange(96) / rng.uniform(2, 8)) * 127 + 128).astype(np.uint8), (96, 1))
        else:
            t = np.full((96, 96), rng.integers(0, 256), np.uint8)
        out.append(t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ytf68"))
    parser.add_argument("--label-x-shift", type=float, default=-1.3)
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    print(f"command: python benchmarks/confidence.py --data {args.data} --label-x-shift {args.label_x_shift}")

    from fkp import FaceKeypoints

    predictor = FaceKeypoints(args.model)
    rng = np.random.default_rng(0)
    faces, labels, others = [], [], []
    for row_id, person, photo, landmarks in read_ytf68_photos(args.data, label_x_shift=args.label_x_shift):
        if not in_validation(person, row_id, args.val_fraction):
            continue
        gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
        frame, keypoints, _ = ytf68_frame(gray, landmarks)
        faces.append(frame)
        labels.append(keypoints)
        centre, side = landmark_crop(landmarks)
        for _ in range(2):  # away from the face: centre moved by 0.8-1.2 crop sides
            direction = rng.uniform(0, 2 * np.pi)
            moved = centre + side * rng.uniform(0.8, 1.2) * np.array([np.cos(direction), np.sin(direction)])
            others.append(warp(gray, crop_matrix(moved, side * rng.uniform(0.5, 1.2))))
    cat = cv2.cvtColor(load_photo(ROOT / "examples" / "no_face_cat.jpg"), cv2.COLOR_RGB2GRAY)
    height, width = cat.shape
    others.append(warp(cat, crop_matrix(((width - 1) / 2, (height - 1) / 2), max(height, width))))
    cat_index = len(others) - 1
    others += textures(rng)

    faces, others, labels = np.stack(faces), np.stack(others), np.stack(labels)
    predicted, confidence, _ = predictor.predict_frames(faces)
    errors = np.linalg.norm(predicted - labels, axis=-1)
    present = np.isfinite(errors)
    c, e = confidence[present], errors[present]
    low, high = c <= np.percentile(c, 20), c >= np.percentile(c, 80)
    print(f"\nper point: {present.sum()} points of {len(faces)} validation frames")
    print(f"  Spearman(confidence, error) = {spearman(c, e):+.3f}")
    print(
        f"  mean error of the least confident fifth {e[low].mean():.2f} px, "
        f"of the most confident fifth {e[high].mean():.2f} px"
    )

    _, other_confidence, _ = predictor.predict_frames(others)
    face_score, other_score = face_scores(faces, confidence), face_scores(others, other_confidence)
    print(f"\nface score: {len(faces)} face crops against {len(others)} non-face crops")
    print(f"  ROC AUC {roc_auc(face_score, other_score):.4f}")
    print(
        f"  faces:     1st / 5th / 50th percentile {np.percentile(face_score, 1):.3f} / "
        f"{np.percentile(face_score, 5):.3f} / {np.median(face_score):.3f}"
    )
    print(
        f"  non-faces: 50th / 95th / 99th percentile {np.median(other_score):.3f} / "
        f"{np.percentile(other_score, 95):.3f} / {np.percentile(other_score, 99):.3f}"
    )
    print(
        f"  the cat example: {other_score[cat_index]:.3f} "
        f"(its mean heatmap peak alone: {other_confidence[cat_index].mean():.3f})"
    )
    print(
        f"  threshold {FACE_SCORE_THRESHOLD}: {np.mean(face_score < FACE_SCORE_THRESHOLD):.1%} of faces flagged, "
        f"{np.mean(other_score >= FACE_SCORE_THRESHOLD):.1%} of non-faces pass"
    )


if __name__ == "__main__":
    main()
