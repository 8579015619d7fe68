"""How a network runs at inference: eager PyTorch, a frozen TorchScript copy, or ONNX Runtime (the
fastest on CPU; `benchmarks/speed.py` measures each). Also builds the ONNX graphs that `fkp export
--onnx` writes and the face detector runs."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch

ONNX_TOLERANCE = (
    1e-4  # max |heatmap difference| between ONNX Runtime and PyTorch (tests/test_model.py, tests/test_cli.py)
)


class LastStack(torch.nn.Module):
    """The network as inference needs it: the last stack's heatmaps only."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)[:, -1]


def onnx_bytes(module: torch.nn.Module, example: torch.Tensor, output_names: list[str]) -> bytes:
    """An eval-mode module as an ONNX graph with one input "images" and a dynamic batch axis."""
    import warnings

    buffer = io.BytesIO()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            example,
            buffer,
            input_names=["images"],
            output_names=output_names,
            dynamic_axes={name: {0: "batch"} for name in ["images", *output_names]},
            opset_version=17,
            dynamo=False,
        )
    return buffer.getvalue()


def heatmap_onnx_bytes(model) -> bytes:
    """A StackedHourglass as ONNX: "images" (B, 1, S, S) -> "heatmaps" (B, K, H, W) of the last stack."""
    return onnx_bytes(LastStack(model), torch.rand(1, 1, model.input_size, model.input_size), ["heatmaps"])


BACKENDS = ("auto", "int8", "onnxruntime", "torchscript", "eager")


# Batches of fewer faces than this run a small keypoint network on one thread. Idle threads sleep (see
# session_runner), and waking a second one for each of the network's ~130 small operations costs more
# than it saves: the fast model, int8, 2 cores, ms a face on 1 / 2 threads: batch 1 0.45 / 0.52, batch 8
# 0.38 / 0.39, batch 32 0.38 / 0.29.
KEYPOINT_SINGLE_THREAD_BELOW = 8
# ... but only a small one: a network of more multiply-accumulates a face than this runs every batch on
# torch's thread count. Float ONNX Runtime, batch 1, 2 cores, 2 threads / 1 thread: 2 x 64 stride 4
# (71 M) 1.03, 1 x 64 stride 4 (42 M) 1.10, 1 x 64 stride 2 (145 M) 0.85, 1 x 128 stride 4 (167 M) 0.84,
# 2 x 128 stride 2, the accurate model (1023 M) 0.65 (int8: 2.98 against 3.67 ms a face). Measured on
# 2 cores only: with more, the large networks' batch 1 uses them all, which is not measured here.
SINGLE_THREAD_MAX_MACS = 100_000_000


def conv_macs(model: torch.nn.Module, input_size: int = 96) -> int:
    """Multiply-accumulates of ``model``'s convolutions on one (1, C, S, S) image (one eager forward in
    eval mode; every submodule's mode is put back, and BatchNorm statistics do not move)."""
    total = 0

    def count(module: torch.nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    modes = {module: module.training for module in model.modules()}
    device = next(model.parameters(), torch.zeros(0)).device
    try:
        with torch.no_grad():
            channels = getattr(model, "architecture", {}).get("in_channels", 1)
            model.eval()(torch.zeros(1, channels, input_size, input_size, device=device))
    finally:
        for module, training in modes.items():
            module.training = training
        for hook in hooks:
            hook.remove()
    return total


def single_thread_below(model: torch.nn.Module) -> int:
    """`KEYPOINT_SINGLE_THREAD_BELOW` for a network of at most `SINGLE_THREAD_MAX_MACS`, else 0 (never)."""
    small = conv_macs(model, getattr(model, "input_size", 96)) <= SINGLE_THREAD_MAX_MACS
    return KEYPOINT_SINGLE_THREAD_BELOW if small else 0


def onnx_session(module: torch.nn.Module, example: torch.Tensor, output_names: list[str], single_thread_below: int = 0):
    """A callable running ``module`` in ONNX Runtime (CPU, torch's thread count; see `session_runner`
    for ``single_thread_below``): images tensor -> tuple of output tensors; None, with a warning,
    when ONNX Runtime or the export is unavailable."""
    import warnings

    try:
        return session_runner(onnx_bytes(module, example, output_names), single_thread_below)
    except Exception as error:  # missing onnx exporter pieces, unusual platforms: eager PyTorch still works
        warnings.warn(
            f"ONNX Runtime backend unavailable ({type(error).__name__}: {error}); using eager PyTorch", stacklevel=3
        )
        return None


def session_runner(graph: bytes | str, single_thread_below: int = 0):
    """A callable images tensor -> tuple of output tensors for an ONNX graph (bytes or a file path) in
    ONNX Runtime on the CPU, with torch's thread count; batches of fewer than ``single_thread_below``
    images run on one thread (a second session of the same graph). Raises when ONNX Runtime cannot
    load it."""
    import onnxruntime as ort

    def session(threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # idle threads sleep instead of spinning: a server's request threads and event loop share
        # the cores (measured on 2 cores: spinning made each demo upload and API call ~60 ms slower)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # no memory arena: the arena keeps the largest batch's memory for good (a photo with 320
        # detector windows left the demo server ~550 MB larger); speed is the same (measured)
        options.enable_cpu_mem_arena = False
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    threads = torch.get_num_threads()
    shared = session(threads)
    single = session(1) if threads > 1 and single_thread_below > 1 else shared

    def forward(images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        chosen = single if len(images) < single_thread_below else shared
        return tuple(
            torch.from_numpy(out) for out in chosen.run(None, {"images": images.detach().cpu().float().numpy()})
        )

    return forward


def onnx_runtime(model: torch.nn.Module):
    """A callable (B, 1, S, S) tensor -> (B, 1, K, H, W) tensor (the last stack only, as one stack)
    running ``model`` in ONNX Runtime, or the model itself if that is unavailable."""
    example = torch.rand(1, 1, model.input_size, model.input_size)
    session = onnx_session(LastStack(model), example, ["heatmaps"], single_thread_below(model))
    return model if session is None else (lambda images: session(images)[0][:, None])


def int8_runtime(path: str, one_thread_below: int):
    """A callable (B, 1, S, S) tensor -> (B, 1, K, H, W) tensor running an int8 heatmap graph written
    by `fkp.quantize` (``model.int8.onnx``), or None, with a warning, when it cannot be loaded. Batches
    of fewer than ``one_thread_below`` images run on one thread: give `single_thread_below(model)` of
    the float model it was made from."""
    import warnings

    try:
        session = session_runner(str(path), one_thread_below)
    except Exception as error:
        warnings.warn(f"int8 network unavailable ({type(error).__name__}: {error}); using the float one", stacklevel=3)
        return None
    return lambda images: session(images)[0][:, None]


INT8_FILE = "model.int8.onnx"
WEIGHTS_FILE = "model.safetensors"
DIGEST_KEY = "fkp_weights_sha256"


def weights_digest(folder: str | Path) -> str:
    """SHA-256 (hex) of a model folder's model.safetensors."""
    digest = hashlib.sha256()
    with open(Path(folder) / WEIGHTS_FILE, "rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def int8_model_path(folder: str | Path) -> Path | None:
    """The folder's model.int8.onnx if it exists and was made from its current weights, else None
    (with a warning when a file exists but is stale or unreadable)."""
    import warnings

    folder = Path(folder)
    path = folder / INT8_FILE
    if not path.is_file() or not (folder / WEIGHTS_FILE).is_file():
        return None
    try:
        import onnx

        metadata = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception as error:  # a damaged file: the float network still works
        warnings.warn(f"{path}: cannot read it ({type(error).__name__}); using the float network", stacklevel=3)
        return None
    if metadata.get(DIGEST_KEY) != weights_digest(folder):
        warnings.warn(
            f"{path} was made from other weights than {folder / WEIGHTS_FILE}; using the float network "
            "(run `fkp quantize --model FOLDER` again)",
            stacklevel=3,
        )
        return None
    return path


def has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def optimized(model: torch.nn.Module, device: str | torch.device = "cpu"):
    """A frozen TorchScript copy of ``model`` for inference, or the model itself if that fails."""
    import warnings

    example = torch.rand(1, 1, model.input_size, model.input_size, device=device)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, example)))
    except Exception as error:  # unusual platforms: eager PyTorch still works
        warnings.warn(
            f"TorchScript optimisation failed ({type(error).__name__}: {error}); using eager PyTorch", stacklevel=2
        )
        return model
