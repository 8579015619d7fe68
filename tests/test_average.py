"""fkp average: one model whose weights are the weighted mean of several models' (fkp.average)."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from fkp.errors import FkpError


def shifted_copy(trained_model, folder, shift: float):
    """A copy of the trained model folder with every float weight moved by ``shift``."""
    shutil.copytree(trained_model, folder)
    state = load_file(str(folder / "model.safetensors"))
    state = {k: v + shift if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def test_the_average_is_the_weighted_mean_and_says_where_it_came_from(trained_model, tmp_path):
    from fkp import FaceKeypoints
    from fkp.average import average_models
    from fkp.card import write_model_card
    from fkp.runtime import weights_digest

    other = shifted_copy(trained_model, tmp_path / "other", 1.0)
    out = average_models(tmp_path / "avg", [str(trained_model), str(other)], [3, 1])
    first, second = load_file(str(trained_model / "model.safetensors")), load_file(str(other / "model.safetensors"))
    averaged = load_file(str(out / "model.safetensors"))
    assert set(averaged) == set(first)
    for name, tensor in averaged.items():
        if tensor.is_floating_point():
            assert torch.allclose(tensor, 0.75 * first[name] + 0.25 * second[name], atol=1e-6)
            assert not torch.equal(tensor, first[name])
        else:  # BatchNorm's batch counters: the first model's
            assert torch.equal(tensor, first[name])

    config = json.loads((out / "config.json").read_text())
    assert "keypoint_offsets" not in config and "flip_keypoint_offsets" not in config  # measured afresh
    record = json.loads((out / "average.json").read_text())
    assert [(m["model"], m["weight"]) for m in record["models"]] == [(str(trained_model), 0.75), (str(other), 0.25)]
    assert record["models"][1]["sha256"] == weights_digest(other)
    assert record["models"][0]["training_command"].startswith("accelerate launch train.py --dataset")
    assert (out / "training_args.json").read_text() == (trained_model / "training_args.json").read_text()

    frames = np.full((1, 96, 96), 128, np.uint8)
    keypoints, _, _ = FaceKeypoints(str(out)).predict_frames(frames)
    assert keypoints.shape == (1, 15, 2) and np.isfinite(keypoints).all()
    card = write_model_card(out).read_text()
    assert "## Weight average" in card and f"| `{other}` | 0.25 |" in card
    assert "not the average's" in card  # no figures measured on the average yet


def test_only_models_of_one_network_are_averaged(trained_model, tmp_path):
    from fkp.average import average_models

    other = tmp_path / "other"
    shutil.copytree(trained_model, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "channels": config["channels"] * 2}))
    with pytest.raises(FkpError, match="another network than .*config.json differs in channels"):
        average_models(tmp_path / "a", [str(trained_model), str(other)])
    with pytest.raises(FkpError, match="at least two models"):
        average_models(tmp_path / "a", [str(trained_model)])
    with pytest.raises(FkpError, match="--weights: give one per model \\(2\\), not 3"):
        average_models(tmp_path / "a", [str(trained_model)] * 2, [1, 1, 1])
    for bad in ([float("nan"), 1.0], [float("inf"), 1.0], [-1.0, 2.0], [0.0, 0.0]):
        with pytest.raises(FkpError, match="--weights: each must be a finite number"):
            average_models(tmp_path / "a", [str(trained_model)] * 2, bad)
    with pytest.raises(FkpError, match="not a model folder"):
        average_models(tmp_path / "a", [str(trained_model), str(tmp_path)])
    assert not (tmp_path / "a").exists()  # nothing written on an error
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    with pytest.raises(FkpError, match="exists and is not an empty folder"):
        average_models(taken, [str(trained_model)] * 2)
    assert (taken / "keep.txt").read_text() == "mine"


def test_the_command_reports_errors_in_one_line(trained_model, tmp_path, capsys):
    from fkp.cli import main

    assert main(["average", str(tmp_path / "avg"), str(trained_model), str(trained_model)]) == 0
    assert "fkp calibrate keypoints --model" in capsys.readouterr().out
    assert main(["average", str(tmp_path / "avg"), str(trained_model), str(trained_model)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fkp average: error:") and "exists and is not an empty folder" in err
    assert "Traceback" not in err
