"""Training on several sources with per-source label corrections and figures, restriding a model, and
the int8 copy of a network (issue 17)."""

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from conftest import FIXTURES, ROOT, TINY


@pytest.fixture
def two_sources(tmp_path):
    """Two ytf68-layout folders with different names (copies of the real-face fixture)."""
    for name in ("video", "photos"):
        shutil.copytree(FIXTURES / "ytf68", tmp_path / name)
    return tmp_path / "video", tmp_path / "photos"


def test_label_correction_moves_each_keypoint_where_the_data_is_read(two_sources, tmp_path):
    from fkp.data import load_source, to_arrays
    from fkp.data.conventions import LABEL_CORRECTIONS
    from fkp.errors import DataError

    source = two_sources[0]
    _, plain = to_arrays(load_source(source))
    _, corrected = to_arrays(load_source(source, label_correction="ytf68"))
    np.testing.assert_allclose(corrected - plain, np.broadcast_to(LABEL_CORRECTIONS["ytf68"], plain.shape), atol=1e-5)

    table = tmp_path / "mine.json"
    table.write_text(json.dumps([[1.0, -2.0]] * 15))
    _, own = to_arrays(load_source(source, label_correction=str(table)))
    np.testing.assert_allclose(own - plain, np.broadcast_to([1.0, -2.0], plain.shape), atol=1e-5)

    table.write_text(json.dumps([[1.0, 2.0]] * 14))
    with pytest.raises(DataError, match="expected 15 finite"):
        load_source(source, label_correction=str(table))
    with pytest.raises(DataError, match="neither one of"):
        load_source(source, label_correction="no-such-convention")
    with pytest.raises(DataError, match="ytf68-layout folders only"):
        load_source(FIXTURES / "frames.parquet", label_correction="ytf68")


def test_training_on_two_sources_reports_each(two_sources, tmp_path):
    from train import main, parse_args

    video, photos = two_sources
    summary = main(
        parse_args(
            [
                "--dataset",
                str(video),
                str(photos),
                "--label_x_shift",
                "-1.3",
                "0",
                "--label_correction",
                "ytf68",
                "none",
                "--output_dir",
                str(tmp_path / "run"),
                *TINY,
                "--epochs",
                "1",
                "--batch_size",
                "8",
                "--val_fraction",
                "0.3",
            ]
        )
    )
    record = summary["history"][0]
    for name in ("video", "photos"):
        assert np.isfinite(record[f"val_rmse/{name}"]) and np.isfinite(record[f"val_nme/{name}"])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["sources"]) == {"video", "photos"}
    assert sum(part["count"] for part in metrics["sources"].values()) == metrics["n_images"]
    # the same frames, differently corrected: the figures differ by source
    assert metrics["sources"]["video"]["rmse"] != metrics["sources"]["photos"]["rmse"]
    args = json.loads((tmp_path / "run" / "training_args.json").read_text())
    assert args["dataset"] == [str(video), str(photos)] and args["label_correction"] == ["ytf68", "none"]

    # fkp evaluate: the same per-source figures, each source read as train.py read it
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fkp.evaluate",
            "--model",
            str(tmp_path / "run"),
            "--data",
            str(video),
            str(photos),
            "--label-x-shift",
            "-1.3",
            "0",
            "--label-correction",
            "ytf68",
            "none",
            "--split",
            "val",
            "--val-fraction",
            "0.3",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    evaluated = json.loads(result.stdout)["sources"]
    for path, name in ((video, "video"), (photos, "photos")):
        assert evaluated[str(path)]["n_images"] == metrics["sources"][name]["count"]


def test_one_value_or_one_per_source():
    from fkp.training_args import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--dataset", "a", "b", "c", "--label_x_shift", "1", "2", "--output_dir", "x"])
    args = parse_args(["--dataset", "a", "b", "--label_x_shift", "-1.3", "--output_dir", "x"])
    assert args.label_x_shift == [-1.3] and args.label_correction == ["none"]


def test_restride_keeps_every_weight_and_goes_back_exactly():
    from fkp.model import build_model, restride

    model = build_model("fkp", num_stacks=1, channels=32, stride=2).eval()
    faster = restride(model, 4)
    assert faster.stride == 4 and faster.heatmap_size == 24
    images = torch.rand(2, 1, 96, 96)
    with torch.inference_mode():
        assert faster(images).shape == (2, 1, 15, 24, 24)
        back = restride(faster, 2)
        torch.testing.assert_close(back(images), model(images))
    assert sum(p.numel() for p in faster.parameters()) == sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match="strides 2 and 4"):
        restride(build_model("original"), 4)


def test_int8_copy_is_used_where_current_and_ignored_when_stale(trained_model, tmp_path):
    from fkp.landmarker import FaceKeypoints
    from fkp.quantize import main as quantize_main

    folder = tmp_path / "model"
    shutil.copytree(trained_model, folder, ignore=shutil.ignore_patterns("checkpoints"))
    assert quantize_main(["--model", str(folder), "--frames", "16"]) == 0
    assert FaceKeypoints(str(folder)).backend == "int8"
    assert FaceKeypoints(str(folder), backend="onnxruntime").backend == "onnxruntime"

    # new weights: the old int8 file is stale, ignored with a warning
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    weights = {k: v + 0.01 if v.is_floating_point() else v for k, v in weights.items()}
    save_file(weights, folder / "model.safetensors")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predictor = FaceKeypoints(str(folder))
    assert predictor.backend == "onnxruntime"
    assert any("other weights" in str(w.message) for w in caught)


def test_int8_copy_of_the_shipped_model_stays_close_to_it(tmp_path):
    from fkp.data import load_source, to_arrays
    from fkp.landmarker import DEFAULT_MODEL, FaceKeypoints
    from fkp.model import load_model
    from fkp.quantize import quantize
    from fkp.runtime import weights_digest

    folder = tmp_path / "shipped"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy2(DEFAULT_MODEL / name, folder)
    images, _ = to_arrays(load_source(FIXTURES / "frames.parquet"))
    quantize(load_model(str(folder)), images, folder / "model.int8.onnx", weights_digest(folder))
    int8 = FaceKeypoints(str(folder))
    assert int8.backend == "int8"
    quantized, _, _ = int8.predict_frames(images)
    reference, _, _ = FaceKeypoints(str(folder), backend="onnxruntime").predict_frames(images)
    # a trained model's int8 copy moves its keypoints by a fraction of a frame pixel
    assert np.sqrt(np.mean((quantized - reference) ** 2)) < 0.5
