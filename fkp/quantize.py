"""An int8 copy of a model's network for ONNX Runtime: static quantization in QDQ format, weights per
output channel, activation ranges calibrated on the model's own training frames (never its validation
people), written beside the weights as ``model.int8.onnx``.

    fkp quantize --model runs/fkp          # training frames from the run's training_args.json

`FaceKeypoints` runs it (backend "auto" or "int8") when ONNX Runtime is installed and the file was made
from the folder's current model.safetensors (a SHA-256 of the weights is stored in the graph's
metadata: a stale file is ignored with a warning; see `fkp.runtime.int8_model_path`). The graph takes
the same input and gives the same heatmaps as `fkp.runtime.heatmap_onnx_bytes`; benchmarks/speed.py
measures its speed, and ``fkp evaluate`` (which uses the default backend) its accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

CALIBRATION_FRAMES = 512  # a seeded sample of the training frames; MinMax ranges settle well before that


def quantize(model, frames: np.ndarray, out_path: str | Path, digest: str | None = None) -> Path:
    """Write an int8 (QDQ, per-channel) ONNX copy of ``model`` (a StackedHourglass) calibrated on
    ``frames`` ((N, S, S) uint8 training frames); ``digest`` goes into the metadata. Atomic: written
    to a temporary name in the same folder, then renamed."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from .runtime import DIGEST_KEY, heatmap_onnx_bytes

    class Frames(CalibrationDataReader):
        def __init__(self, batch: int = 32):
            self.batches = iter(
                [
                    {"images": (frames[i : i + batch].astype(np.float32) / 255.0)[:, None]}
                    for i in range(0, len(frames), batch)
                ]
            )

        def get_next(self):
            return next(self.batches, None)

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as work:
        float_path, prepared = Path(work) / "float.onnx", Path(work) / "prepared.onnx"
        float_path.write_bytes(heatmap_onnx_bytes(model.eval()))
        # BatchNorm folded into the convolutions first, so that what is quantized is what runs
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantized = Path(work) / "int8.onnx"
        quantize_static(
            str(prepared),
            str(quantized),
            Frames(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        graph = onnx.load(str(quantized))
        if digest:
            entry = graph.metadata_props.add()
            entry.key, entry.value = DIGEST_KEY, digest
        handle, temporary = tempfile.mkstemp(dir=out_path.parent, prefix=".int8-", suffix=".onnx")
        os.close(handle)
        try:
            onnx.save(graph, temporary)
            os.chmod(temporary, 0o644)  # mkstemp's 0o600 would hide a shipped file from other users
            os.replace(temporary, out_path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return out_path


def calibration_frames(frames: np.ndarray, count: int = CALIBRATION_FRAMES, seed: int = 0) -> np.ndarray:
    """A seeded random subset of ``count`` frames (all of them when there are fewer)."""
    if len(frames) <= count:
        return frames
    return frames[np.sort(np.random.default_rng(seed).choice(len(frames), count, replace=False))]


def main(argv: list[str] | None = None, prog: str = "python -m fkp.quantize") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="a local model folder written by train.py")
    parser.add_argument("--frames", type=int, default=CALIBRATION_FRAMES, help="calibration frames")
    args = parser.parse_args(argv)
    from .card import read_record
    from .errors import FkpError
    from .model import load_model
    from .offsets import training_frames
    from .options import VAL_FRACTION
    from .runtime import INT8_FILE, weights_digest

    folder = Path(args.model)
    if not (folder / "config.json").is_file() or not (folder / "training_args.json").is_file():
        raise FkpError(f"{folder}: not a model folder written by train.py (config.json and training_args.json)")
    run_args = read_record(folder, "training_args.json")
    images, _ = training_frames(
        run_args["dataset"],
        run_args,
        run_args.get("label_x_shift", 0.0),
        run_args.get("val_fraction", VAL_FRACTION),
        run_args.get("label_correction", "none"),
        run_args.get("crop", "labels"),
    )
    frames = calibration_frames(images, args.frames)
    path = quantize(load_model(folder), frames, folder / INT8_FILE, weights_digest(folder))
    print(json.dumps({"wrote": str(path), "calibration_frames": len(frames), "from": "training people only"}))
    return 0


if __name__ == "__main__":
    from .errors import run_cli

    raise SystemExit(run_cli(main, prog="python -m fkp.quantize"))
