"""End-to-end demo latency per photo on this CPU: everything `fkp.demo.analyse` does for one
upload (load -> detect -> crop + model -> face score, drawing, downloads), with a breakdown.

    python benchmarks/demo_latency.py [--repeats 5]

The stages are timed inside the same `analyse` calls as the total (the stage functions are wrapped
with timers), so each row adds up: total = load + detect + model + other (face score, drawing, downloads).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(spent: dict, stage: str, fn):
    """``fn`` wrapped so that its run time is added to spent[stage]."""

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[stage] += time.perf_counter() - start

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from fkp import demo

    spent: dict[str, float] = defaultdict(float)
    demo.load_photo = timed(spent, "load", demo.load_photo)
    demo.DETECTOR.detect = timed(spent, "detect", demo.DETECTOR.detect)
    demo.PREDICTOR.predict_frames = timed(spent, "model", demo.PREDICTOR.predict_frames)

    print(f"command: python benchmarks/demo_latency.py --repeats {args.repeats}")
    print(f"{'photo':26s} {'size':>10s} {'faces':>5s} {'total':>8s} {'load':>7s} {'detect':>7s} {'model':>7s} {'other':>7s}   (medians over {args.repeats} runs; other = total - the rest)")
    for path in sorted((ROOT / "examples").glob("*.jpg")):
        demo.analyse(str(path))  # warm-up
        runs = []
        for _ in range(args.repeats):
            spent.clear()
            start = time.perf_counter()
            result = demo.analyse(str(path))
            total = time.perf_counter() - start
            runs.append({"total": total, **spent, "other": total - sum(spent.values())})
        row = {key: statistics.median(run.get(key, 0.0) for run in runs) for key in ("total", "load", "detect", "model", "other")}
        state = result[-1]
        faces = len(state["faces"]) if state else 0
        height, width = demo.load_photo(path).shape[:2]
        print(f"{path.name:26s} {f'{width}x{height}':>10s} {faces:5d} {row['total'] * 1000:6.0f}ms {row['load'] * 1000:5.0f}ms "
              f"{row['detect'] * 1000:5.0f}ms {row['model'] * 1000:5.0f}ms {row['other'] * 1000:5.0f}ms")


if __name__ == "__main__":
    main()
