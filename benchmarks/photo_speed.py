"""The whole-photo pipeline against dlib's, per photo, in one interleaved run.

    python benchmarks/photo_speed.py [--every 1] [--sizes 320,400] [--repeats 3] [--detector NAME]

fkp: `FaceKeypoints().detect(photo)`, as a user calls it (the default detector, crop, keypoints,
face score). dlib (benchmark only, never a dependency of fkp: ``pip install dlib-bin
face-recognition-models``): the HOG frontal face detector, then the 68-point shape predictor on each
face it finds; the detector upsamples the photo once (``detector(photo, 1)``, as dlib's examples
and face_recognition call it; without it dlib finds no face under about 80 px, while fkp finds them
down to about 64 px), and also without upsampling, for reference.

Photos: the validation side of helen_afw68 (train.py's person-wise split, as `fkp evaluate --split
val`; one labelled face each, at most 320 px), as stored and resized to 400 px on their longer side
(the "about 400 px" of issue 18). Both get the decoded RGB array (decoding is the same for both).
Each photo is run ``--repeats`` times by each system in turn, alternating which goes first; the
fastest repeat counts (the least disturbed by other work on the machine). Torch and ONNX Runtime
use 2 threads; dlib's detector uses one.

Printed per size: median ms per photo of fkp and of dlib, the ratio of the medians and the median
of the per-photo ratios; fkp's stages, timed in the same loop (detect; crop: grayscale and the
upright 96x96 crops; keypoints: the network and decoding, `predict_frames`; score: the face score),
and fkp without its keypoint stage (what the detection and face score cost, whatever keypoint
network runs); the labelled faces each system found; whether fkp takes at most 0.25x of dlib's time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fkp.detect import DEFAULT_DETECTOR, match_face  # noqa: E402
from fkp.geometry import warp  # noqa: E402
from fkp.pipeline import face_scores  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from dlib_reference import load_dlib  # noqa: E402

TARGET = 0.25  # issue 18: at most this share of dlib's time per photo


def dlib_pipeline(upsample: int):
    """dlib's HOG detector + 68-point shape predictor: RGB photo -> list of (68, 2) landmarks; None
    when dlib or the predictor's model file is not installed."""
    reference = load_dlib()
    if reference is None:
        return None
    _, shape, detector = reference

    def run(photo: np.ndarray) -> list[np.ndarray]:
        return [np.array([(p.x, p.y) for p in shape(photo, rect).parts()], float) for rect in detector(photo, upsample)]

    return run


def staged(predictor, photo: np.ndarray) -> dict[str, float]:
    """Seconds per stage of fkp's pipeline on one photo, run stage by stage as `predict_photo` runs them."""
    detector = predictor.detector
    times, start = {}, time.perf_counter()
    boxes = detector.detect(photo)
    times["detect"], start = time.perf_counter() - start, time.perf_counter()
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    pyramid = [gray]
    frames = np.stack([warp(gray, detector.crop(box), pyramid=pyramid) for box in boxes]) if boxes else None
    times["crop"], start = time.perf_counter() - start, time.perf_counter()
    if frames is not None:
        _, confidence, _ = predictor.predict_frames(frames)
        times["keypoints"], start = time.perf_counter() - start, time.perf_counter()
        face_scores(frames, confidence, detector, boxes)
    else:
        times["keypoints"], start = 0.0, time.perf_counter()
    times["score"] = time.perf_counter() - start
    return times


def fastest(function, repeats: int):
    """(result, seconds) of the fastest of ``repeats`` calls."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "helen_afw68"))
    parser.add_argument("--every", type=int, default=1, help="use every N-th validation photo")
    parser.add_argument("--sizes", default="320,400", help="longer sides: 320 keeps the stored photos")
    parser.add_argument("--repeats", type=int, default=3, help="runs per photo and system; the fastest counts")
    parser.add_argument("--model", default=None)
    parser.add_argument("--detector", default=None, help="a name in fkp.detect.DETECTORS (default: fkp's default)")
    args = parser.parse_args()
    print("command: python benchmarks/photo_speed.py " + " ".join(sys.argv[1:]))

    import torch

    torch.set_num_threads(2)
    from blazeface_full import resized, validation_photos  # the detector benchmark's photos (this folder)

    from fkp import FaceKeypoints

    predictor = FaceKeypoints(args.model, detector=args.detector or DEFAULT_DETECTOR)
    systems = {"dlib": dlib_pipeline(1), "dlib, no upsampling": dlib_pipeline(0)}
    if systems["dlib"] is None:
        sys.exit("dlib is not installed: pip install dlib-bin face-recognition-models")
    photos = validation_photos(Path(args.data))[:: args.every]
    print(
        f"{len(photos)} validation photos of {Path(args.data).name}; fkp: {predictor.detector.name} detector, "
        f"keypoint model {predictor.model.__class__.__name__} ({predictor.backend}); 2 threads\n"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        cases = [(p, m) if size == 320 else resized(p, m, size / max(p.shape[:2])) for p, m in photos]
        predictor.detect(cases[0][0])  # warm-up
        times = {name: [] for name in ("fkp", *systems, "detect", "crop", "keypoints", "score")}
        found = {name: 0 for name in ("fkp", *systems)}
        for index, (photo, landmarks) in enumerate(cases):
            runs = [("fkp", lambda photo=photo: predictor.detect(photo))]
            runs += [(name, lambda photo=photo, run=run: run(photo)) for name, run in systems.items()]
            for name, function in runs if index % 2 else runs[::-1]:
                result, seconds = fastest(function, args.repeats)
                times[name].append(seconds)
                if name == "fkp":
                    found[name] += match_face([face.box for face in result], landmarks) is not None
                else:  # dlib's 68 points centred on the labelled 68 (within 15% of the face's width)
                    width = np.ptp(landmarks[:, 0])
                    found[name] += any(np.linalg.norm(r.mean(0) - landmarks.mean(0)) < 0.15 * width for r in result)
            stages = [staged(predictor, photo) for _ in range(args.repeats)]
            for stage in stages[0]:
                times[stage].append(min(s[stage] for s in stages))

        ms = {name: 1000 * statistics.median(values) for name, values in times.items()}
        sides = sorted({max(p.shape[:2]) for p, _ in cases})
        print(f"photos of {sides[0]}-{sides[-1]} px (longer side), medians per photo over {len(cases)} photos:")
        for name in ("fkp", *systems):
            print(f"  {name:22s} {ms[name]:7.1f} ms   labelled faces found {found[name]}/{len(cases)}")
        stage_text = ", ".join(f"{stage} {ms[stage]:.1f}" for stage in ("detect", "crop", "keypoints", "score"))
        print(f"  fkp's stages (ms):     {stage_text}")
        without = [sum(t) for t in zip(times["detect"], times["crop"], times["score"])]
        for name in systems:
            ratio = ms["fkp"] / ms[name]
            per_photo = statistics.median(a / b for a, b in zip(times["fkp"], times[name]))
            detection = 1000 * statistics.median(without) / ms[name]
            print(
                f"  fkp / {name}: {ratio:.3f}x (median of per-photo ratios {per_photo:.3f}x; "
                f"without the keypoint stage {detection:.3f}x); target {TARGET}x "
                f"{'holds' if ratio <= TARGET else 'does not hold'}"
            )
        print(flush=True)


if __name__ == "__main__":
    main()
