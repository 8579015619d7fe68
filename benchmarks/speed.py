"""CPU inference speed of the shipped model against the previous shipped design and the original
hourglass-facekeypoints-detection design, measured in the same run.

    python benchmarks/speed.py [--threads 2] [--repeats 300]

1. As users get it: batch-1 latency of `FaceKeypoints.predict_frames` on one 96x96 face (network
   plus decoding), median over repeats, for the shipped model with its default backend against the
   previous design as fkp ran it before (TorchScript, then the default). The ratio is the figure
   that matters.
2. Per backend (eager, TorchScript frozen, ONNX Runtime), batch 1 and batch-32 throughput, for the
   shipped design, fkp 0.4.0's (one hourglass of 64 channels), the previous one and the original.
   Weights do not change speed, so all but the shipped design run with random weights of their
   configuration.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fkp.landmarker import DEFAULT_MODEL, FaceKeypoints  # noqa: E402
from fkp.model import build_model, load_model  # noqa: E402
from fkp.runtime import has_onnxruntime  # noqa: E402


def median_seconds(fn, repeats: int) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="shipped model folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"command: python benchmarks/speed.py --threads {args.threads} --repeats {args.repeats}")
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), "
        f"onnxruntime {'installed' if has_onnxruntime() else 'not installed'}"
    )

    models = {
        "shipped": load_model(args.model),
        "fkp 0.4.0 (1x64)": build_model("fkp_v04").eval(),
        "previous (fkp_v1)": build_model("fkp_v1").eval(),
        "original": build_model("original").eval(),
    }
    one = np.random.default_rng(0).integers(0, 256, (1, 96, 96), dtype=np.uint8)
    batch = np.random.default_rng(1).integers(0, 256, (32, 96, 96), dtype=np.uint8)

    shipped = FaceKeypoints(models["shipped"])
    previous = FaceKeypoints(models["previous (fkp_v1)"], backend="torchscript")
    v04 = FaceKeypoints(models["fkp 0.4.0 (1x64)"])
    ours = median_seconds(lambda: shipped.predict_frames(one), args.repeats)
    ours_v04 = median_seconds(lambda: v04.predict_frames(one), args.repeats)
    ours_flip = median_seconds(lambda: shipped.predict_frames(one, flip_test=True), args.repeats)
    before = median_seconds(lambda: previous.predict_frames(one), args.repeats)
    print("\nas users get it: FaceKeypoints.predict_frames, one face, batch 1")
    print(f"  shipped, default backend ({shipped.backend}): {ours * 1000:6.2f} ms")
    print(f"  previous design, as fkp ran it (torchscript): {before * 1000:6.2f} ms")
    print(f"  shipped with flip test (the face and its mirror image in one batch): {ours_flip * 1000:6.2f} ms")
    print(
        f"  fkp 0.4.0's design (1x64), default backend: {ours_v04 * 1000:6.2f} ms "
        f"({ours_v04 / before:.2f}x the previous design)"
    )
    print(
        f"  ratio shipped / previous: {ours / before:.2f}x the time ({before / ours:.2f}x faster); "
        f"with flip test {ours_flip / before:.2f}x"
    )

    print("\nper backend, network + decoding, batch 1 (ms) and batch 32 (faces/s):")
    print(f"  {'design':20s} {'params':>7s} " + " ".join(f"{b:>24s}" for b in ("eager", "torchscript", "onnxruntime")))
    for name, model in models.items():
        cells = []
        for backend in ("eager", "torchscript", "onnxruntime"):
            if backend == "onnxruntime" and not has_onnxruntime():
                cells.append(f"{'n/a':>24s}")
                continue
            predictor = FaceKeypoints(model, backend=backend)
            latency = median_seconds(lambda: predictor.predict_frames(one), max(20, args.repeats // 3))
            throughput = 32 / median_seconds(lambda: predictor.predict_frames(batch), 5)
            cells.append(f"{latency * 1000:8.2f} ms {throughput:7.0f} f/s")
        print(f"  {name:20s} {sum(p.numel() for p in model.parameters()) / 1e6:6.2f}M " + " ".join(cells))


if __name__ == "__main__":
    main()
