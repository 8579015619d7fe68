"""Stacked hourglass network (Newell et al. 2016) for 15 facial keypoints.

Input: (B, 1, 96, 96) float grayscale in [0, 1]. Output: (B, S, K, H, W) heatmaps, one set per
stack (intermediate supervision), H = W = 96 / stride. Use ``outputs[:, -1]`` for prediction.
"""

from __future__ import annotations

import contextlib
import io
import os

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .heatmaps import HeatmapCodec
from .keypoints import FLIP_PERMUTATION, FRAME_SIZE, NUM_KEYPOINTS

# Named configurations. "original" reproduces the hourglass-facekeypoints-detection design (Kaggle
# RMSE 1.81): one 4-level, 128-channel hourglass at full 96x96 resolution behind a 1x1-conv stem,
# sigma-5 px heatmaps and argmax decoding. "fkp" is the design of fkp's fast model (see its model card):
# two hourglasses of 64 channels. Trained from scratch it lost to one hourglass at a 12-minute budget
# (benchmarks/accuracy.py), so fkp 0.5's weights were grown from fkp 0.4's one-hourglass
# weights (`grow`, then 40 epochs): 1.356 px against 1.368 for 96 channels and the same budget.
# Run by ONNX Runtime it takes about half the time of the same design under TorchScript (fkp 0.1).
MODEL_CONFIGS: dict[str, dict] = {
    "original": dict(num_stacks=1, depth=4, channels=128, stem="conv1x1", stride=1, sigma=5.0, refine=False),
    # the fast model's design: 2 stacks of 64 channels at output stride 4 (24x24 heatmaps), a quarter of the
    # hourglass work of stride 2 (benchmarks/speed.py) for accuracy that training on both sources recovers
    "fkp": dict(num_stacks=2, depth=3, channels=64, stem="conv", stride=4, sigma=1.5, refine=True),
    # the designs fkp shipped before: 2 stacks of 64 channels run by TorchScript (0.1), 1 stack of 64 (0.3, 0.4),
    # 2 stacks of 64 at stride 2 (0.5)
    "fkp_v1": dict(num_stacks=2, depth=3, channels=64, stem="conv", stride=2, sigma=1.5, refine=True),
    "fkp_v05": dict(num_stacks=2, depth=3, channels=64, stem="conv", stride=2, sigma=1.5, refine=True),
    "fkp_v04": dict(num_stacks=1, depth=3, channels=64, stem="conv", stride=2, sigma=1.5, refine=True),
}


def conv_bn_relu(cin: int, cout: int, kernel: int = 1, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Residual(nn.Module):
    """Bottleneck residual block (1x1 -> 3x3 -> 1x1), with a 1x1 projection when channels change."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        mid = cout // 2
        self.body = nn.Sequential(
            conv_bn_relu(cin, mid, 1),
            conv_bn_relu(mid, mid, 3),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.skip(x))


class Hourglass(nn.Module):
    """Recursive hourglass: a residual skip at this scale plus a half-resolution hourglass of depth-1."""

    def __init__(self, depth: int, channels: int):
        super().__init__()
        self.skip = Residual(channels, channels)
        self.down = nn.Sequential(nn.MaxPool2d(2), Residual(channels, channels))
        self.inner = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels, channels)
        self.up = Residual(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.up(self.inner(self.down(x)))
        # a fixed factor (sizes divide exactly: StackedHourglass checks input_size), not x's size: the
        # ONNX graph then computes no shapes while it runs (int8, one thread: 0.48 -> 0.45 ms a face)
        return self.skip(x) + nn.functional.interpolate(low, scale_factor=2.0, mode="nearest")


class StackedHourglass(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="fkp",
    tags=["keypoint-detection", "facial-keypoints", "stacked-hourglass"],
    license="mit",
):
    """Stacked hourglass keypoint heatmap model; config is saved with the weights (config.json).

    Args:
        num_stacks: hourglasses in sequence, each supervised.
        depth: downsampling levels per hourglass.
        channels: feature channels.
        stem: "conv1x1" (a 1x1 conv, full resolution; the original design) or "conv" (3x3 convs and
            residual blocks, with pooling down to ``stride``).
        stride: input pixels per heatmap cell (1, 2 or 4).
        sigma: target Gaussian sigma in heatmap cells (used by training and recorded for users).
        refine: sub-pixel quadratic refinement when decoding (False: plain argmax).
        keypoint_offsets, flip_keypoint_offsets: (K, 2) mean signed errors (frame pixels) of the decoded
            keypoints on the training people, without and with flip test, subtracted from every
            prediction (`fkp calibrate keypoints`; None: no correction). They are calibration of
            trained weights, not architecture: `grow` and train.py's --init_from drop them.
    """

    def __init__(
        self,
        num_stacks: int = 2,
        depth: int = 3,
        channels: int = 64,
        stem: str = "conv",
        stride: int = 2,
        sigma: float = 1.5,
        refine: bool = True,
        num_keypoints: int = NUM_KEYPOINTS,
        input_size: int = FRAME_SIZE,
        in_channels: int = 1,
        keypoint_offsets: list | None = None,
        flip_keypoint_offsets: list | None = None,
    ):
        super().__init__()
        self.keypoint_offsets = _offsets(keypoint_offsets, num_keypoints)
        self.flip_keypoint_offsets = _offsets(flip_keypoint_offsets, num_keypoints)
        if stride not in (1, 2, 4) or input_size % (stride * 2**depth):
            raise ValueError(f"input_size {input_size} must be divisible by stride*2**depth ({stride}*2**{depth})")
        self.architecture = dict(
            num_stacks=num_stacks,
            depth=depth,
            channels=channels,
            stem=stem,
            stride=stride,
            sigma=sigma,
            refine=refine,
            num_keypoints=num_keypoints,
            input_size=input_size,
            in_channels=in_channels,
        )
        self.stride, self.sigma, self.refine = stride, sigma, refine
        self.num_stacks, self.num_keypoints, self.input_size = num_stacks, num_keypoints, input_size
        if stem == "conv1x1":
            if stride != 1:
                raise ValueError("the 1x1 stem keeps full resolution: use stride=1")
            self.stem = conv_bn_relu(in_channels, channels, 1)
        elif stem == "conv":
            layers = [conv_bn_relu(in_channels, channels // 2, 3, stride=2 if stride > 1 else 1)]
            layers += [Residual(channels // 2, channels // 2)]
            if stride == 4:
                layers += [nn.MaxPool2d(2)]
            layers += [Residual(channels // 2, channels)]
            self.stem = nn.Sequential(*layers)
        else:
            raise ValueError(f"unknown stem {stem!r}: use 'conv1x1' or 'conv'")
        self.hourglasses = nn.ModuleList(Hourglass(depth, channels) for _ in range(num_stacks))
        self.features = nn.ModuleList(
            nn.Sequential(Residual(channels, channels), conv_bn_relu(channels, channels, 1)) for _ in range(num_stacks)
        )
        self.heads = nn.ModuleList(nn.Conv2d(channels, num_keypoints, 1) for _ in range(num_stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(num_stacks - 1))
        self.merge_heatmaps = nn.ModuleList(nn.Conv2d(num_keypoints, channels, 1) for _ in range(num_stacks - 1))

    @property
    def heatmap_size(self) -> int:
        return self.input_size // self.stride

    @property
    def codec(self) -> HeatmapCodec:
        """The keypoints <-> heatmaps codec this model was trained with."""
        return HeatmapCodec(input_size=self.input_size, stride=self.stride, sigma=self.sigma, refine=self.refine)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1, 96, 96) in [0, 1] -> (B, num_stacks, K, H, W) heatmaps."""
        x = self.stem(images)
        outputs = []
        for i in range(self.num_stacks):
            features = self.features[i](self.hourglasses[i](x))
            heatmaps = self.heads[i](features)
            outputs.append(heatmaps)
            if i < self.num_stacks - 1:
                x = x + self.merge_features[i](features) + self.merge_heatmaps[i](heatmaps)
        return torch.stack(outputs, dim=1)

    def offsets(self, flip_test: bool) -> torch.Tensor | None:
        """The calibrated (K, 2) offsets for predictions with or without flip test, or None."""
        return self.flip_keypoint_offsets if flip_test else self.keypoint_offsets

    @torch.inference_mode()
    def predict(self, images: torch.Tensor, flip_test: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predict keypoints for (B, 1, 96, 96) images in [0, 1]; see `predict_with`."""
        return predict_with(self, images, self.codec, flip_test, self.offsets(flip_test))


def _offsets(values: list | None, num_keypoints: int) -> torch.Tensor | None:
    if values is None:
        return None
    offsets = torch.tensor(values, dtype=torch.float32)
    if offsets.shape != (num_keypoints, 2) or not torch.isfinite(offsets).all():
        raise ValueError(
            f"keypoint offsets must be {num_keypoints} finite (x, y) pairs, got shape {tuple(offsets.shape)}"
        )
    return offsets


@torch.inference_mode()
def predict_with(
    forward, images: torch.Tensor, codec: HeatmapCodec, flip_test: bool = False, offsets: torch.Tensor | None = None
):
    """Keypoints (B, K, 2) in input pixels, confidence (B, K) and final heatmaps (B, K, H, W) from
    ``forward`` (a StackedHourglass or a compiled copy of one) on (B, 1, 96, 96) images in [0, 1].

    With ``flip_test`` the heatmaps of the mirrored image are flipped back (left/right keypoints
    swapped) and averaged in. Cell centres are symmetric about the frame centre (see fkp.heatmaps),
    so mirroring the heatmap of the mirrored image aligns it exactly with the original. ``codec``
    decodes the heatmaps (the model's `StackedHourglass.codec`). ``offsets``: (K, 2) calibrated mean
    errors subtracted from the keypoints (`StackedHourglass.offsets`).
    """
    if flip_test:  # one batch with the mirrored images: cheaper than two passes (benchmarks/speed.py)
        both = forward(torch.cat([images, images.flip(-1)]))[:, -1]
        mirrored = both[len(images) :].flip(-1)[:, list(FLIP_PERMUTATION)]
        heatmaps = (both[: len(images)] + mirrored) / 2
    else:
        heatmaps = forward(images)[:, -1]
    keypoints, confidence = codec.decode(heatmaps.float())
    if offsets is not None:
        keypoints = keypoints - offsets.to(keypoints.device)
    return keypoints, confidence, heatmaps


def build_model(name: str = "fkp", **overrides) -> StackedHourglass:
    """A model from a named configuration in MODEL_CONFIGS, with optional overrides."""
    if name not in MODEL_CONFIGS:
        raise ValueError(f"unknown model config {name!r}; choose from {sorted(MODEL_CONFIGS)}")
    return StackedHourglass(**{**MODEL_CONFIGS[name], **overrides})


GROWABLE = ("channels", "num_stacks")  # and the stride, by `restride`


@torch.no_grad()
def grow(model: StackedHourglass, channels: int | None = None, num_stacks: int | None = None) -> StackedHourglass:
    """A wider and/or deeper copy of ``model`` that computes the same heatmaps (in eval mode), to
    fine-tune a larger design from trained weights instead of from scratch (Net2Net, Chen et al. 2016).

    Wider (``channels`` >= the model's): every tensor keeps the old weights in its leading slice; the
    new channels start from a fresh initialisation, and the weights from new channels into old ones
    start at zero, so the old channels (and the heatmaps) are unchanged until training moves them.
    Deeper (``num_stacks`` >= the model's): each added stack is a copy of the last one and the merge
    convolutions feeding it start at zero, so it sees the same input and outputs the same heatmaps.
    """
    old = model.architecture
    channels = old["channels"] if channels is None else channels
    num_stacks = old["num_stacks"] if num_stacks is None else num_stacks
    if channels < old["channels"] or num_stacks < old["num_stacks"]:
        raise ValueError(
            f"grow only adds: channels {old['channels']} -> {channels}, stacks {old['num_stacks']} -> {num_stacks}"
        )
    grown = StackedHourglass(**{**old, "channels": channels, "num_stacks": num_stacks})
    old_state = dict(model.state_dict())
    last = old["num_stacks"] - 1
    for key, value in list(old_state.items()):  # added stacks copy the last trained one
        part, index, rest = key.split(".", 2) if key.count(".") >= 2 else (key, "", "")
        if part in ("hourglasses", "features", "heads") and index == str(last):
            for i in range(last + 1, num_stacks):
                old_state[f"{part}.{i}.{rest}"] = value
    new_state = grown.state_dict()
    for key, new in new_state.items():
        trained = old_state.get(key)
        if trained is None:  # merge convolutions of added stacks: start at zero (the identity merge)
            new.zero_()
            continue
        if new.ndim == 4:  # conv (out, in, kh, kw): no path from new input channels into old outputs
            new[: trained.shape[0], trained.shape[1] :] = 0
        new[tuple(slice(0, n) for n in trained.shape)] = trained
    grown.load_state_dict(new_state, strict=True)
    return grown.to(next(model.parameters()).device).train(model.training)


@torch.no_grad()
def restride(model: StackedHourglass, stride: int) -> StackedHourglass:
    """A copy of a 'conv'-stem ``model`` with output stride 2 or 4 and the same weights: a warm start
    for fine-tuning, not the same heatmaps. Strides 2 and 4 differ only by a pooling layer in the stem
    (no weights), so every trained tensor carries over; the hourglasses then see features at half
    (or twice) the resolution they were trained on, which fine-tuning adapts them to."""
    old = model.architecture
    if old["stem"] != "conv" or {old["stride"], stride} - {2, 4}:
        raise ValueError(
            f"restride converts 'conv'-stem models between strides 2 and 4, not {old['stride']} -> {stride}"
        )
    changed = StackedHourglass(**{**old, "stride": stride})
    last_stem = {2: "stem.2.", 4: "stem.3."}  # the stem's last residual block, after the pooling at stride 4
    state = {
        key.replace(last_stem[old["stride"]], last_stem[stride], 1) if key.startswith("stem.") else key: value
        for key, value in model.state_dict().items()
    }
    changed.load_state_dict(state, strict=True)
    return changed.to(next(model.parameters()).device).train(model.training)


MODEL_FILES = ("config.json", "model.safetensors")  # what a saved model folder holds (train.py, fkp export)


def missing_model_files(folder: str | os.PathLike) -> list[str]:
    """The names of `MODEL_FILES` that the local ``folder`` lacks (empty for a complete model folder)."""
    return [name for name in MODEL_FILES if not os.path.isfile(os.path.join(folder, name))]


def load_model(path_or_id: str, device: str | torch.device = "cpu") -> StackedHourglass:
    """Load a saved model (a shipped model's name, a local folder or a Hub id: `fkp.shipped.model_source`)
    strictly, in eval mode.

    Raises an `FkpError` naming the file when the weights do not fit the config, or when config.json
    or model.safetensors is damaged or incomplete (an interrupted save, copy or download).
    """
    import json

    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError
    from safetensors import SafetensorError

    from .errors import FkpError
    from .shipped import model_source

    path_or_id = model_source(path_or_id)
    if os.path.isdir(path_or_id):
        missing = missing_model_files(path_or_id)
        if missing:
            raise FkpError(
                f"{path_or_id} is not a model folder: it has no {' or '.join(missing)} "
                "(a folder written by train.py, fkp export or fkp average)"
            )

    def where(name: str) -> str:
        return os.path.join(path_or_id, name) if os.path.isdir(path_or_id) else f"{name} of {path_or_id}"

    try:
        # huggingface_hub prints "Loading weights from local directory" to stdout, which is for results
        with contextlib.redirect_stdout(io.StringIO()):
            model = StackedHourglass.from_pretrained(path_or_id, strict=True, map_location=str(device))
    except SafetensorError as error:  # e.g. a truncated file: "incomplete metadata, file not fully covered"
        raise FkpError(
            f"{where('model.safetensors')} is damaged or incomplete ({error}); export, copy or download the model again"
        ) from error
    except json.JSONDecodeError as error:
        raise FkpError(
            f"{where('config.json')} is damaged or incomplete (not valid JSON: {error}); "
            "export, copy or download the model again"
        ) from error
    except (EntryNotFoundError, HfHubHTTPError, HFValidationError) as error:
        if os.path.isdir(path_or_id):
            raise
        raise FkpError(
            f"{path_or_id!r} is not a local folder, and the Hugging Face Hub has no model of that id or cannot "
            "be reached; give a shipped model's name, a folder written by train.py or a Hub model id (owner/name)"
        ) from error
    except RuntimeError as error:  # shape or key mismatch from load_state_dict / safetensors
        raise FkpError(f"checkpoint {path_or_id!r} does not match its config.json: {error}") from error
    return model.eval().to(device)
