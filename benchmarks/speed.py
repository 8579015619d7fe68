"""CPU speed of the keypoint model per face, against dlib's 68-point shape predictor in the same run.

    python benchmarks/speed.py [--threads 2] [--repeats 1000] [--model fast|accurate|FOLDER] [--data FOLDER]

1. The headline, as users get it: `FaceKeypoints.predict_frames` on one 96x96 face, batch 1 (network
   and decoding, the shipped model with its default backend), against dlib's shape predictor
   (`dlib-bin` + `face-recognition-models`: a benchmark-only reference, not a dependency of fkp),
   face after face: each call takes the next of many different faces (those BlazeFace finds in the
   validation photos of ``--data``, by default ../shared/data/helen_afw68, else in fkp's example
   photos), both systems the same faces in the same order. Each system runs in blocks of consecutive
   calls, the blocks alternating between the two so that both see the same machine load over the run.
   How the calls are made moves dlib's time far more than fkp's, whose network does the same work
   for any face: dlib walks its regression trees along paths that depend on the pixels, fast while
   those paths are in the CPU's caches and slow once they are not. Printed beside the headline, not
   as the result: the first face over and over (its paths stay cached: dlib's best case), and the
   different faces called alternately with fkp's calls (cold caches for both). The headline,
   different faces in blocks, is what a user running one of them over a folder of faces gets, before
   the detector and decoding that in a real pipeline also run between the calls.
   With flip test (the mirrored face in the same batch) beside it, for the accuracy it buys.
2. The photo pipeline's per-face cost beside it: the crop (one affine warp from the photo), the
   keypoints (as above) and the face score (`fkp.pipeline.face_scores`, from the detector's own
   score where it ran and the keypoint model's heatmap peaks).
3. Where the time goes: the network alone in each backend (int8 ONNX Runtime, float ONNX Runtime,
   TorchScript, eager) against predict_frames, i.e. the cost of decoding.
4. The designs compared for accuracy per millisecond: the network of each candidate in float ONNX
   Runtime, batch 1 (weights do not change speed, so untrained designs run with random weights);
   their accuracy comes from training each (see the model card and the issue's closing note).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fkp.geometry import warp  # noqa: E402
from fkp.images import load_photo  # noqa: E402
from fkp.landmarker import FaceKeypoints, model_source  # noqa: E402
from fkp.model import build_model  # noqa: E402
from fkp.pipeline import default_detector, face_scores  # noqa: E402
from fkp.runtime import has_onnxruntime, int8_model_path, int8_runtime, onnx_runtime, single_thread_below  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from dlib_reference import load_dlib  # noqa: E402

BLOCK = 50  # consecutive calls of one function before the next function's turn


def collect_faces(data: Path, detector) -> tuple[list[tuple[np.ndarray, object]], str]:
    """(grayscale photo, detector box) of every face the detector finds in the validation photos of
    ``data`` (a ytf68-layout folder) or, without it, in fkp's example photos; and where they came from."""
    if data.is_dir():
        from blazeface_full import validation_photos  # the detector benchmark's photos (this folder)

        photos = [photo for photo, _ in validation_photos(data)]
        where = f"the {len(photos)} validation photos of {data.name}"
    else:
        photos = [load_photo(path) for path in sorted((ROOT / "examples").glob("*.jpg"))]
        where = f"fkp's {len(photos)} example photos ({data} not found)"
    faces = []
    for photo in photos:
        gray = np.asarray(photo.mean(axis=2), dtype=np.uint8)
        faces += [(gray, box) for box in detector.detect(photo)]
    return faces, where


def face_after_face(call: Callable[[int], object], count: int) -> Callable[[], object]:
    """A function of no arguments that calls ``call`` with 0, 1, ..., count - 1, 0, 1, ... in turn."""
    turn = itertools.count()
    return lambda: call(next(turn) % count)


DESIGNS = {  # name: build_model overrides (the "fkp" configuration otherwise)
    "2 stacks x 64, stride 2 (fkp 0.5)": dict(num_stacks=2, channels=64, stride=2),
    "1 stack x 64, stride 2 (fkp 0.4)": dict(num_stacks=1, channels=64, stride=2),
    "2 stacks x 32, stride 2": dict(num_stacks=2, channels=32, stride=2),
    "2 stacks x 64, stride 4": dict(num_stacks=2, channels=64, stride=4),
    "1 stack x 64, stride 4": dict(num_stacks=1, channels=64, stride=4),
    "1 stack x 128, stride 4": dict(num_stacks=1, channels=128, stride=4),
    "4 stacks x 128, stride 4 (teacher)": dict(num_stacks=4, channels=128, stride=4),
    "2 stacks x 128, stride 2 (teacher)": dict(num_stacks=2, channels=128, stride=2),
}


def block_calls(repeats: int, block: int = BLOCK) -> int:
    """The calls `block_medians` makes of each function for ``repeats``: whole blocks, at least one."""
    return max(1, -(-repeats // block)) * block


def block_medians(functions: dict[str, Callable[[], object]], repeats: int, block: int = BLOCK) -> dict[str, float]:
    """Median seconds per call of each function over ``repeats`` calls, made in blocks of ``block``
    consecutive calls, the functions taking turns block by block (a short warm-up opens each block
    and is not timed: the first calls after another function's block find cold caches)."""
    times = {name: [] for name in functions}
    for _ in range(block_calls(repeats, block) // block):
        for name, fn in functions.items():
            for _ in range(5):
                fn()
            for _ in range(block):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def interleaved_medians(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, called in turn once per round (after a warm-up):
    each call runs right after the others', with their code and data in the caches."""
    for fn in functions.values():
        for _ in range(10):
            fn()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default="fast", help="a shipped model ('fast', 'accurate') or a model folder (default: fast)"
    )
    parser.add_argument(
        "--data",
        default=str(ROOT.parent / "shared" / "data" / "helen_afw68"),
        help="a ytf68-layout folder whose validation photos give the faces (without it: fkp's example photos)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1000, help="calls of each function (rounded up to blocks)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"command: python benchmarks/speed.py --threads {args.threads} --repeats {args.repeats} --model {args.model}")
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), "
        f"onnxruntime {'installed' if has_onnxruntime() else 'not installed'}"
    )

    folder = model_source(args.model)
    predictor = FaceKeypoints(folder)
    detector = default_detector()
    faces, where = collect_faces(Path(args.data), detector)
    if not faces:
        raise SystemExit(f"no face found in {where}")
    matrices = [detector.crop(box) for _, box in faces]
    frames = [warp(gray, matrix)[None] for (gray, _), matrix in zip(faces, matrices)]
    confidences = [predictor.predict_frames(frame)[1] for frame in frames]
    count = len(faces)

    timed = {
        "keypoints": face_after_face(lambda i: predictor.predict_frames(frames[i]), count),
        "flip test": face_after_face(lambda i: predictor.predict_frames(frames[i], flip_test=True), count),
        "crop": face_after_face(lambda i: warp(faces[i][0], matrices[i]), count),
        "face score": face_after_face(lambda i: face_scores(frames[i], confidences[i], detector, [faces[i][1]]), count),
        "keypoints, one face": lambda: predictor.predict_frames(frames[0]),
    }
    reference = load_dlib()
    if reference is not None:
        dlib, shape_predictor, _ = reference
        rects = [dlib.rectangle(int(b.x), int(b.y), int(b.x + b.width), int(b.y + b.height)) for _, b in faces]
        timed["dlib"] = face_after_face(lambda i: shape_predictor(faces[i][0], rects[i]), count)
        timed["dlib, one face"] = lambda: shape_predictor(faces[0][0], rects[0])
    medians = block_medians(timed, args.repeats)
    calls = block_calls(args.repeats)

    print(
        f"\n1. face after face, batch 1: {count} different faces (found in {where}) in turn, {calls} calls "
        f"each in alternating blocks of {BLOCK}, median ms per face"
    )
    print(f"  fkp FaceKeypoints.predict_frames ({predictor.backend}): {medians['keypoints'] * 1000:6.2f} ms")
    print(f"  the same with flip_test=True:                  {medians['flip test'] * 1000:6.2f} ms")
    if reference is None:
        print("  dlib: not installed (pip install dlib-bin face-recognition-models), skipped")
    else:
        ratio = medians["keypoints"] / medians["dlib"]
        print(f"  dlib shape_predictor (68 points):              {medians['dlib'] * 1000:6.2f} ms")
        verdict = "no slower than dlib" if ratio <= 1 else "slower than dlib"
        print(f"  ratio fkp / dlib: {ratio:.2f}x the time ({verdict})")
        one = medians["keypoints, one face"] / medians["dlib, one face"]
        print(
            f"  beside it, not the result: the first face over and over (dlib's best case: its tree paths stay "
            f"cached): fkp {medians['keypoints, one face'] * 1000:.2f} ms, dlib {medians['dlib, one face'] * 1000:.2f}"
            f" ms, {one:.2f}x;"
        )
        mixed = interleaved_medians({"keypoints": timed["keypoints"], "dlib": timed["dlib"]}, args.repeats)
        print(
            f"  and the different faces called alternately, one call of each in turn (caches cold for both): fkp "
            f"{mixed['keypoints'] * 1000:.2f} ms, dlib {mixed['dlib'] * 1000:.2f} ms, "
            f"{mixed['keypoints'] / mixed['dlib']:.2f}x"
        )

    print("\n2. the photo pipeline's cost per face (after detection)")
    total = medians["crop"] + medians["keypoints"] + medians["face score"]
    print(
        f"  crop {medians['crop'] * 1000:.2f} ms + keypoints {medians['keypoints'] * 1000:.2f} ms + "
        f"face score {medians['face score'] * 1000:.2f} ms = {total * 1000:.2f} ms"
    )

    print("\n3. the network alone per backend vs predict_frames (decoding included), batch 1, ms (the first face)")
    frame = frames[0]
    images = torch.from_numpy(frame.astype(np.float32) / 255.0)[:, None]
    networks = {"eager": predictor.model, "onnxruntime": onnx_runtime(predictor.model)}
    path = int8_model_path(folder) if Path(folder).is_dir() else None
    if path is not None and has_onnxruntime():
        networks["int8"] = int8_runtime(str(path), single_thread_below(predictor.model))
    rows = {}
    for backend, network in networks.items():
        user = FaceKeypoints(predictor.model if backend != "int8" else folder, backend=backend)
        with torch.inference_mode():
            rows[backend] = block_medians(
                {"network": lambda: network(images), "predict_frames": lambda: user.predict_frames(frame)},
                max(30, args.repeats // 3),
            )
    for backend, row in rows.items():
        print(
            f"  {backend:12s} network {row['network'] * 1000:6.2f}   predict_frames {row['predict_frames'] * 1000:6.2f}"
            f"   decoding and the rest {(row['predict_frames'] - row['network']) * 1000:5.2f}"
        )

    print("\n4. candidate designs: network in float ONNX Runtime, batch 1, ms (random weights)")
    for name, overrides in DESIGNS.items():
        model = build_model("fkp", **overrides).eval()
        network = onnx_runtime(model)
        with torch.inference_mode():
            seconds = block_medians({"n": lambda: network(images)}, max(30, args.repeats // 3))["n"]
        params = sum(p.numel() for p in model.parameters()) / 1e3
        print(f"  {name:36s} {params:6.0f}k params  {seconds * 1000:6.2f} ms")


if __name__ == "__main__":
    main()
