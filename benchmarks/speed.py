"""CPU inference speed: the shipped model against the original hourglass-facekeypoints-detection
design (one 128-channel 4-level hourglass at 96x96, 1x1 stem), measured in the same run.

    python benchmarks/speed.py [--threads 2] [--repeats 200]

Prints batch-1 latency (one 96x96 face, median over repeats) for several execution variants of
each model, the speed-up of the shipped model over the original, and batch-32 throughput.
Weights do not change speed, so the original is measured with random weights.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fkp.api import DEFAULT_MODEL  # noqa: E402
from fkp.model import build_model, load_model  # noqa: E402


def time_call(fn, x, repeats: int) -> float:
    """Median seconds per call after a warm-up."""
    with torch.inference_mode():
        for _ in range(10):
            fn(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def variants(model: torch.nn.Module) -> dict:
    """Execution variants of one eval-mode model: name -> callable on (B, 1, 96, 96)."""
    model = model.eval()
    example = torch.rand(1, 1, 96, 96)
    out = {"eager": model}
    cl = build_like(model).to(memory_format=torch.channels_last)
    out["channels_last"] = lambda x: cl(x.contiguous(memory_format=torch.channels_last))
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(build_like(model), example)))
    out["torchscript_frozen"] = frozen
    try:
        compiled = torch.compile(build_like(model), dynamic=True)
        with torch.inference_mode():
            compiled(example)
        out["torch_compile"] = compiled
    except Exception as error:  # no C++ toolchain, unsupported platform, ...
        print(f"  torch.compile unavailable: {type(error).__name__}: {str(error)[:100]}")
    try:
        import onnxruntime as ort

        path = Path("/tmp") / f"fkp_{id(model)}.onnx"
        torch.onnx.export(build_like(model), example, path, input_names=["images"], output_names=["heatmaps"],
                          dynamic_axes={"images": {0: "batch"}, "heatmaps": {0: "batch"}}, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        out["onnxruntime"] = lambda x: session.run(None, {"images": x.numpy()})
    except ImportError:
        print("  onnxruntime not installed: pip install onnx onnxruntime to include it")
    return out


def build_like(model):
    import copy

    return copy.deepcopy(model).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="shipped model folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"command: python benchmarks/speed.py --threads {args.threads} --repeats {args.repeats}")
    print(f"torch {torch.__version__}, {args.threads} thread(s)")

    models = {"original": build_model("original"), "shipped": load_model(args.model)}
    one, batch = torch.rand(1, 1, 96, 96), torch.rand(32, 1, 96, 96)
    results = {}
    for name, model in models.items():
        print(f"\n{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
        for variant, fn in variants(model).items():
            latency = time_call(fn, one, args.repeats)
            throughput = 32 / time_call(fn, batch, max(5, args.repeats // 20))
            results[name, variant] = (latency, throughput)
            print(f"  {variant:20s} batch 1: {latency * 1000:7.2f} ms   batch 32: {throughput:7.0f} faces/s")

    def best(name):
        return min((v for (n, _), v in results.items() if n == name), key=lambda v: v[0])

    eager_original = results["original", "eager"][0]
    best_shipped = min(((v, k[1]) for k, v in results.items() if k[0] == "shipped"), key=lambda t: t[0][0])
    print(f"\nshipped ({best_shipped[1]}) vs original (eager): {eager_original / best_shipped[0][0]:.2f}x faster at batch 1")
    print(f"shipped eager vs original eager: {eager_original / results['shipped', 'eager'][0]:.2f}x")
    print(f"shipped as fkp runs it (torchscript_frozen, FaceKeypoints' default) vs original eager: "
          f"{eager_original / results['shipped', 'torchscript_frozen'][0]:.2f}x")
    print(f"best vs best: {best('original')[0] / best('shipped')[0]:.2f}x at batch 1, "
          f"{best('shipped')[1] / best('original')[1]:.2f}x throughput at batch 32")

    print("\ntraining throughput (forward + backward + AdamW step, batch 32, channels_last, as train.py):")
    for name in models:
        model = (build_model("original") if name == "original" else load_model(args.model)).train().to(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(model.parameters(), 1e-4)
        images = batch.contiguous(memory_format=torch.channels_last)

        def step():
            loss = model(images).float().square().mean()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

        step()
        seconds = min(timeit_once(step) for _ in range(3))
        print(f"  {name:9s} {32 / seconds:7.1f} images/s")


def timeit_once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
