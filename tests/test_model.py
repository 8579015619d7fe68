import json

import pytest
import torch

from fkp.model import MODEL_CONFIGS, StackedHourglass, build_model, grow, load_model


@pytest.mark.parametrize("name,heatmap", [("fkp", 24), ("fkp_v05", 48), ("original", 96)])
def test_named_configs_shapes(name, heatmap):
    model = build_model(name).eval()
    out = model(torch.rand(2, 1, 96, 96))
    assert out.shape == (2, MODEL_CONFIGS[name]["num_stacks"], 15, heatmap, heatmap)
    keypoints, confidence, heatmaps = model.predict(torch.rand(3, 1, 96, 96), flip_test=True)
    assert keypoints.shape == (3, 15, 2) and confidence.shape == (3, 15) and heatmaps.shape == (3, 15, heatmap, heatmap)


def test_original_config_is_the_published_design():
    model = build_model("original")
    assert model.num_stacks == 1 and model.stride == 1 and model.sigma == 5.0 and not model.refine
    assert (
        isinstance(model.stem[0], torch.nn.Conv2d)
        and model.stem[0].kernel_size == (1, 1)
        and model.stem[0].out_channels == 128
    )
    depth, hourglass = 0, model.hourglasses[0]
    while hasattr(hourglass, "inner"):
        depth, hourglass = depth + 1, hourglass.inner
    assert depth == 4


@pytest.mark.parametrize("stride,depth", [(1, 2), (2, 3), (4, 3)])
def test_configurable_stride_and_depth(stride, depth):
    model = build_model("fkp", stride=stride, depth=depth, channels=16, num_stacks=3).eval()
    assert model(torch.rand(1, 1, 96, 96)).shape == (1, 3, 15, 96 // stride, 96 // stride)


def test_invalid_configs_are_rejected():
    with pytest.raises(ValueError, match="unknown model config"):
        build_model("huge")
    with pytest.raises(ValueError, match="divisible"):
        StackedHourglass(depth=6, stride=2)


def test_save_and_load_round_trip(tmp_path):
    model = build_model("fkp", channels=16).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert json.loads((tmp_path / "config.json").read_text())["channels"] == 16
    loaded = load_model(str(tmp_path))
    x = torch.rand(2, 1, 96, 96)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x))


def test_checkpoint_of_the_wrong_shape_is_refused(tmp_path):
    build_model("fkp", channels=16).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "channels": 32}))
    with pytest.raises(ValueError, match="does not match its config.json"):
        load_model(str(tmp_path))


@pytest.mark.parametrize("flip_test", [False, True])
@pytest.mark.parametrize("backend", ["torchscript", "onnxruntime"])
def test_optimized_inference_matches_eager(flip_test, backend):
    import numpy as np

    from fkp import FaceKeypoints

    # seeded: on random weights, two heatmap cells can tie to within float rounding, and then the
    # backends' last-bit differences pick different argmax cells (seen in about 1 of 60 random models)
    torch.manual_seed(0)
    model = build_model("fkp", channels=16).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, which freezing folds into the convs
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    frames = np.random.default_rng(0).integers(0, 256, size=(21, 96, 96), dtype=np.uint8)
    from fkp.runtime import ONNX_TOLERANCE

    eager = FaceKeypoints(model, backend="eager", flip_test=flip_test).predict_frames(frames, batch_size=8)
    optimized = FaceKeypoints(model, backend=backend, flip_test=flip_test)
    assert optimized.backend == backend and optimized.forward is not model  # the optimised path is really taken
    keypoints, confidence, heatmaps = optimized.predict_frames(frames, batch_size=8)
    assert np.abs(heatmaps - eager[2]).max() < ONNX_TOLERANCE
    assert np.allclose(keypoints, eager[0], atol=1e-3) and np.allclose(confidence, eager[1], atol=1e-4)


def _trained_looking(model: StackedHourglass) -> StackedHourglass:
    """Random weights with non-trivial BatchNorm statistics and affine parameters."""
    torch.manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        model.train()
        for _ in range(3):
            model(torch.rand(4, 1, 96, 96))
    return model.eval()


@pytest.mark.parametrize("growth", [dict(channels=24), dict(num_stacks=2), dict(channels=24, num_stacks=3)])
def test_grow_keeps_the_heatmaps_and_trains_the_new_part(growth):
    small = _trained_looking(build_model("fkp", channels=16, num_stacks=1))
    grown = grow(small, **growth).eval()
    assert grown.architecture == {**small.architecture, **growth}
    images = torch.rand(3, 1, 96, 96)
    with torch.no_grad():
        before, after = small(images)[:, -1], grown(images)
    assert after.shape[1] == growth.get("num_stacks", 1)
    for stack in range(after.shape[1]):
        assert torch.allclose(after[:, stack], before, atol=1e-5)
    # the added weights are not stuck: one step gives every added parameter a gradient
    grown.train()
    grown(images).square().mean().backward()
    if "channels" in growth:
        assert grown.heads[-1].weight.grad[:, 16:].abs().sum() > 0  # from the new channels into the output
    if "num_stacks" in growth:
        assert grown.merge_features[0].weight.grad.abs().sum() > 0


def test_grow_only_adds():
    model = build_model("fkp", channels=16, num_stacks=2)
    with pytest.raises(ValueError, match="grow only adds"):
        grow(model, channels=8)
    with pytest.raises(ValueError, match="grow only adds"):
        grow(model, num_stacks=1)


def test_keypoint_offsets_are_subtracted_saved_and_not_grown(tmp_path):
    offsets = torch.linspace(-0.5, 0.5, 30).reshape(15, 2)
    plain = _trained_looking(build_model("fkp", channels=16))
    calibrated = StackedHourglass(
        **plain.architecture, keypoint_offsets=offsets.tolist(), flip_keypoint_offsets=(2 * offsets).tolist()
    )
    calibrated.load_state_dict(plain.state_dict())
    calibrated.eval()
    images = torch.rand(2, 1, 96, 96)
    for flip, expected in ((False, offsets), (True, 2 * offsets)):
        assert torch.allclose(calibrated.predict(images, flip)[0], plain.predict(images, flip)[0] - expected, atol=1e-5)
    calibrated.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path))
    assert torch.allclose(loaded.keypoint_offsets, offsets) and torch.allclose(
        loaded.flip_keypoint_offsets, 2 * offsets
    )
    assert grow(loaded, channels=24).keypoint_offsets is None  # offsets belong to trained weights, not to a design
    with pytest.raises(ValueError, match="15 finite"):
        StackedHourglass(channels=16, keypoint_offsets=[[0.0, 0.0]] * 14)


def test_heatmap_graph_is_static_and_batch_size_does_not_change_results():
    """The upsampling has a fixed factor, so the ONNX graph computes no shapes at run time (each such
    node costs ONNX Runtime time on every face); a small batch runs on its own one-thread session,
    which gives what the shared session gives."""
    import numpy as np
    import onnx

    from fkp.runtime import KEYPOINT_SINGLE_THREAD_BELOW, ONNX_TOLERANCE, heatmap_onnx_bytes, session_runner

    model = _trained_looking(build_model("fkp", channels=16))
    graph = heatmap_onnx_bytes(model)
    ops = {node.op_type for node in onnx.load_from_string(graph).graph.node}
    assert "Resize" in ops and "Shape" not in ops

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run = session_runner(graph, KEYPOINT_SINGLE_THREAD_BELOW)
    finally:
        torch.set_num_threads(threads)
    images = torch.rand(KEYPOINT_SINGLE_THREAD_BELOW + 4, 1, 96, 96)
    together = run(images)[0].numpy()  # the shared session
    alone = np.concatenate([run(images[i : i + 1])[0].numpy() for i in range(len(images))])  # one thread
    with torch.no_grad():
        eager = model(images)[:, -1].numpy()
    assert np.abs(alone - together).max() < ONNX_TOLERANCE and np.abs(together - eager).max() < ONNX_TOLERANCE
