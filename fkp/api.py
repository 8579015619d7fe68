"""Public API: `FaceKeypoints` predicts the 15 keypoints on 96x96 face frames or on whole photos.

    from fkp.api import FaceKeypoints
    fkp = FaceKeypoints()                      # shipped weights, or FKP_MODEL=folder-or-hub-id
    keypoints, confidence, heatmaps = fkp.predict_frames(frames)   # (N, 96, 96) uint8
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .model import StackedHourglass, load_model, predict_with

DEFAULT_MODEL = Path(__file__).parent / "weights"


def default_model_source() -> str:
    """$FKP_MODEL (a local folder or a Hub model id) if set, else the weights shipped with fkp."""
    return os.environ.get("FKP_MODEL") or str(DEFAULT_MODEL)


class FaceKeypoints:
    """Keypoint predictor around a `StackedHourglass`.

    Args:
        model: a loaded model, a local folder or a Hub model id (default: `default_model_source()`).
        device: torch device.
        flip_test: average with the prediction on the mirrored frame (more accurate, 2x the work).
        backend: how the network runs (see benchmarks/speed.py for what each costs):
            "torchscript": a frozen TorchScript copy, BatchNorm folded into the convolutions;
            "onnxruntime": the same graph in ONNX Runtime (pip install 'fkp[onnx]'), CPU only;
            "eager": plain PyTorch;
            "auto" (default): onnxruntime on CPU where it is installed, else torchscript.
            A backend that cannot be built falls back to eager PyTorch with a warning.
    """

    def __init__(self, model: StackedHourglass | str | None = None, device: str = "cpu", flip_test: bool = False, backend: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        if not isinstance(model, StackedHourglass):
            model = load_model(model or default_model_source(), device)
        self.model = model.eval().to(device)
        self.device, self.flip_test = device, flip_test
        if backend == "auto":
            backend = "onnxruntime" if str(device) == "cpu" and has_onnxruntime() else "torchscript"
        self.backend = backend
        if backend == "onnxruntime":
            self.forward = onnx_runtime(self.model)
        elif backend == "torchscript":
            self.forward = optimized(self.model, device)
        else:
            self.forward = self.model
        if self.forward is self.model:
            self.backend = "eager"

    def predict_frames(self, frames: np.ndarray, batch_size: int = 64, flip_test: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predict on (N, 96, 96) uint8 grayscale frames (``flip_test`` overrides the instance's setting).

        Returns keypoints (N, 15, 2) in frame pixels, confidence (N, 15) in [0, 1] and heatmaps
        (N, 15, H, W) float32 (H = W = 96 / stride).
        """
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1:] != (self.model.input_size, self.model.input_size):
            raise ValueError(f"expected (N, {self.model.input_size}, {self.model.input_size}) frames, got shape {frames.shape}")
        outputs = [[], [], []]
        for start in range(0, len(frames), batch_size):
            batch = torch.from_numpy(frames[start : start + batch_size].astype(np.float32) / 255.0)[:, None].to(self.device)
            flip = self.flip_test if flip_test is None else flip_test
            predictions = predict_with(self.forward, batch, self.model.codec, flip, self.model.offsets(flip))
            for out, value in zip(outputs, predictions):
                out.append(value.float().cpu().numpy())
        if not outputs[0]:
            size = self.model.heatmap_size
            k = self.model.num_keypoints
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32), np.zeros((0, k, size, size), np.float32)
        return tuple(np.concatenate(out) for out in outputs)


BACKENDS = ("auto", "torchscript", "onnxruntime", "eager")


def onnx_session(module: torch.nn.Module, example: torch.Tensor, output_names: list[str]):
    """A callable running ``module`` in ONNX Runtime (CPU, torch's thread count): images tensor ->
    tuple of output tensors; None, with a warning, when ONNX Runtime or the export is unavailable."""
    import warnings

    try:
        import onnxruntime as ort

        from .export import onnx_bytes

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        # idle threads sleep instead of spinning: a server's request threads and event loop share
        # the cores (measured on 2 cores: spinning made each demo upload and API call ~60 ms slower)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # no memory arena: the arena keeps the largest batch's memory for good (a photo with 320
        # detector windows left the demo server ~550 MB larger); speed is the same (measured)
        options.enable_cpu_mem_arena = False
        session = ort.InferenceSession(onnx_bytes(module, example, output_names), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # missing onnx exporter pieces, unusual platforms: eager PyTorch still works
        warnings.warn(f"ONNX Runtime backend unavailable ({type(error).__name__}: {error}); using eager PyTorch", stacklevel=3)
        return None

    def forward(images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(out) for out in session.run(None, {"images": images.detach().cpu().float().numpy()}))

    return forward


def onnx_runtime(model: StackedHourglass):
    """A callable (B, 1, S, S) tensor -> (B, 1, K, H, W) tensor (the last stack only, as one stack)
    running ``model`` in ONNX Runtime, or the model itself if that is unavailable."""
    from .export import LastStack

    example = torch.rand(1, 1, model.input_size, model.input_size)
    session = onnx_session(LastStack(model), example, ["heatmaps"])
    return model if session is None else (lambda images: session(images)[0][:, None])


def has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def optimized(model: StackedHourglass, device: str | torch.device = "cpu"):
    """A frozen TorchScript copy of ``model`` for inference, or the model itself if that fails."""
    import warnings

    example = torch.rand(1, 1, model.input_size, model.input_size, device=device)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, example)))
    except Exception as error:  # unusual platforms: eager PyTorch still works
        warnings.warn(f"TorchScript optimisation failed ({type(error).__name__}: {error}); using eager PyTorch", stacklevel=2)
        return model
