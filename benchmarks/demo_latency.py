"""End-to-end demo latency per photo on this CPU: load -> detect -> crop -> model -> render
(everything `app.analyse` does for one upload), with a breakdown, per example photo.

    python benchmarks/demo_latency.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import app
    from fkp.photo import load_photo, predict_photo

    print(f"command: python benchmarks/demo_latency.py --repeats {args.repeats}")
    print(f"{'photo':26s} {'size':>10s} {'faces':>5s} {'total':>8s} {'load':>7s} {'detect':>7s} {'model':>7s} {'render':>7s}")
    for path in sorted((ROOT / "examples").glob("*.jpg")):
        photo = load_photo(path)
        faces = predict_photo(app.PREDICTOR, photo, app.DETECTOR)
        total = median_seconds(lambda: app.analyse(str(path)), args.repeats)
        load = median_seconds(lambda: load_photo(path), args.repeats)
        detect = median_seconds(lambda: app.DETECTOR.detect(photo), args.repeats)
        model = max(0.0, median_seconds(lambda: predict_photo(app.PREDICTOR, photo, app.DETECTOR), args.repeats) - detect)
        render = max(0.0, total - load - detect - model)
        height, width = photo.shape[:2]
        print(f"{path.name:26s} {f'{width}x{height}':>10s} {len(faces):5d} {total * 1000:6.0f}ms {load * 1000:5.0f}ms {detect * 1000:5.0f}ms {model * 1000:5.0f}ms {render * 1000:5.0f}ms")


if __name__ == "__main__":
    main()
