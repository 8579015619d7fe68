"""Do fkp's confidences mean something? Two measurements on the validation people.

    python benchmarks/confidence.py --data ../shared/data/ytf68 --label-x-shift -1.3

1. Per point: Spearman rank correlation between a keypoint's confidence (its heatmap peak) and its
   error, over every point of the validation frames. Negative is good: higher confidence, lower error.
   Also the mean error of the least and most confident fifth of the points.
2. Per face crop that no detector found (`--whole-image`, Kaggle-style crops): the face score
   (`fkp.pipeline.face_scores`: mean heatmap peak and the crop classifier's face probability) on the
   validation face frames against non-face crops (two crops per photo away from the face, of random
   size; the cat example as one whole-image crop; 40 synthetic textures: noise, blurred noise,
   stripes, flat grey). Reports the ROC AUC, the score percentiles and how many land on each side of
   FACE_SCORE_THRESHOLD.
3. Per detection (``--detections``), what `FACE_SCORE_THRESHOLD` is set from: each BlazeFace
   detector on whole photos, at its own threshold. Faces: the labelled face's detection in the
   validation photos of helen_afw68 (as stored, turned by ±45 degrees, close-ups, reduced to
   64-80-px faces on a 640x480 canvas: `benchmarks/blazeface_full.py`'s sets) and of ytf68 (every 3rd). Non-faces:
   every detection on all photos of both folders (both sides of the split) with the labelled face
   painted over in grey (1.5 crop sides square; other people in a photo count here too, so some
   "non-faces" are real faces), on the cat example and on 40 synthetic textures of 320x320. For the
   face score as the pipeline computes it (mean heatmap peak and the detection's own probability)
   and, for comparison, with the crop classifier's second look instead: ROC AUC, percentiles, and
   per threshold the number of faces dropped and of non-faces kept.

    python benchmarks/confidence.py --detections
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
    parser.add_argument("--detections", action="store_true", help="only part 3: the face score of detections")
    args = parser.parse_args()
    print(f"command: python benchmarks/confidence.py {' '.join(sys.argv[1:])}")

    import torch

    from fkp import FaceKeypoints

    torch.set_num_threads(2)
    predictor = FaceKeypoints(args.model)
    if args.detections:
        detection_scores(predictor)
        return
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


def rates(faces: np.ndarray, others: np.ndarray, label: str) -> None:
    """AUC, percentiles and per-threshold shares of face scores of faces and non-faces."""
    print(f"  {label}: ROC AUC {roc_auc(faces, others):.4f}")
    print(
        f"    faces 0 / 1st / 5th / 50th percentile {faces.min():.3f} / {np.percentile(faces, 1):.3f} / "
        f"{np.percentile(faces, 5):.3f} / {np.median(faces):.3f}; "
        f"non-faces 50th / 95th / max {np.median(others):.3f} / {np.percentile(others, 95):.3f} / {others.max():.3f}"
    )
    cells = [
        f"{t:.2f}: {np.sum(faces < t)} / {np.sum(others >= t)}" for t in (0.5, 0.55, 0.6, 0.65, 0.7, 0.72, 0.75, 0.8)
    ]
    print(f"    threshold: faces dropped (of {len(faces)}) / non-faces kept (of {len(others)})   " + "   ".join(cells))


def detection_scores(predictor) -> None:
    """Part 3: the face score of each detection on whole photos, faces against non-faces."""
    from blazeface_full import case_set  # the case sets of the detector benchmark (this folder)

    from fkp.detect import create_detector, match_face
    from fkp.pipeline import crop_classifier, predict_photo

    rng = np.random.default_rng(0)
    face_photos = [(p, m) for name in ("helen", "turned", "close", "small") for _, p, m in case_set(name, 1)]
    face_photos += [(p, m) for _, p, m in case_set("ytf68", 1)]
    blank = []  # every photo of both folders (both sides of the split), the labelled face painted over
    for folder, shift in (("helen_afw68", 0.0), ("ytf68", -1.3)):
        for _, _, photo, landmarks in read_ytf68_photos(ROOT.parent / "shared" / "data" / folder, label_x_shift=shift):
            centre, side = landmark_crop(landmarks)
            (x0, y0), (x1, y1) = np.maximum(centre - 0.75 * side, 0).astype(int), (centre + 0.75 * side).astype(int)
            photo = photo.copy()
            photo[y0:y1, x0:x1] = 128
            blank.append(photo)
    blank.append(load_photo(ROOT / "examples" / "no_face_cat.jpg"))
    blank += [cv2.cvtColor(cv2.resize(t, (320, 320)), cv2.COLOR_GRAY2RGB) for t in textures(rng)]
    print(
        f"\nface score of detections: {len(face_photos)} validation photos with a labelled face, "
        f"{len(blank)} photos without (faces painted over, the cat, textures)"
    )
    classifier = crop_classifier()
    for name in ("blazeface_full", "blazeface"):
        detector = create_detector(name)
        faces, others = [], []  # (mean peak, detection probability, crop classifier probability)
        for photo, landmarks in face_photos:
            found = predict_photo(predictor, photo, detector, keep_doubtful=True)
            index = match_face([face.box for face in found], landmarks)
            if index is not None:
                faces.append(found[index])
        for photo in blank:
            others += predict_photo(predictor, photo, detector, keep_doubtful=True)
        print(f"\n{name} (detection threshold {detector.threshold}): {len(faces)} faces found, {len(others)} non-faces")

        def columns(results):
            peak = np.array([face.confidence.mean() for face in results])
            detected = np.array([face.box.score for face in results])
            looked = classifier.frame_scores(np.stack([face.frame for face in results]))
            return peak, detected, looked

        (fp, fd, fl), (op, od, ol) = columns(faces), columns(others)
        rates(np.sqrt(fp * fd), np.sqrt(op * od), "face score, detection probability (the pipeline's)")
        rates(np.sqrt(fp * fl), np.sqrt(op * ol), "face score, crop classifier's second look instead")
        rates(fd, od, "detection probability alone")
        rates(fp, op, "mean heatmap peak alone")


if __name__ == "__main__":
    main()
