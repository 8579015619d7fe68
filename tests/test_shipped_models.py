"""The models shipped with fkp, chosen by name (fkp.landmarker.SHIPPED_MODELS): "fast" (the default)
and "accurate"."""

from pathlib import Path

import numpy as np
import pytest
import torch

from fkp.data import load_source, to_arrays
from fkp.landmarker import DEFAULT_MODEL, SHIPPED_MODELS, FaceKeypoints, default_model_source, model_source
from fkp.runtime import int8_model_path

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_a_name_gives_its_shipped_folder_and_anything_else_passes_as_it_is(monkeypatch, tmp_path):
    monkeypatch.delenv("FKP_MODEL", raising=False)
    assert model_source("fast") == str(DEFAULT_MODEL) == default_model_source() == model_source(None)
    assert model_source("accurate") == str(SHIPPED_MODELS["accurate"]) != str(DEFAULT_MODEL)
    assert model_source(tmp_path) == model_source(str(tmp_path)) == str(tmp_path)  # a folder
    assert model_source("user/fkp-model") == "user/fkp-model"  # a Hub id
    monkeypatch.setenv("FKP_MODEL", "accurate")  # the variable takes a name too
    assert default_model_source() == model_source(None) == str(SHIPPED_MODELS["accurate"])
    assert model_source("fast") == str(DEFAULT_MODEL)  # a name given wins over the variable


@pytest.fixture(scope="module")
def frames():
    return to_arrays(load_source(FIXTURES / "frames.parquet"))


@pytest.mark.parametrize("name", sorted(SHIPPED_MODELS))
def test_each_shipped_model_runs_int8_and_finds_the_keypoints(name, frames):
    """Each shipped folder has a model card and a current int8 copy, which the default backend runs;
    its keypoints on real ytf68 frames (labels as given, ~1 px off 300-W's convention in x) are those
    of a trained model, and within a fraction of a pixel of its float network's."""
    folder = SHIPPED_MODELS[name]
    assert (folder / "README.md").is_file() and int8_model_path(folder) is not None
    images, labels = frames
    predictor = FaceKeypoints(name)
    assert predictor.backend == "int8"
    keypoints, confidence, heatmaps = predictor.predict_frames(images)
    assert keypoints.shape == labels.shape and heatmaps.shape[-1] == 96 // predictor.model.stride
    assert np.sqrt(np.nanmean((keypoints - labels) ** 2)) < 2.5
    assert np.median(confidence) > 0.5
    reference, _, _ = FaceKeypoints(name, backend="onnxruntime").predict_frames(images)
    assert np.sqrt(np.mean((keypoints - reference) ** 2)) < 0.5


def test_the_accurate_model_is_the_larger_design_and_agrees_with_the_fast_one_on_a_photo():
    fast, accurate = FaceKeypoints("fast"), FaceKeypoints("accurate")
    assert accurate.model.architecture["channels"] > fast.model.architecture["channels"]
    assert accurate.model.stride < fast.model.stride
    [face_fast] = fast.detect(EXAMPLES / "grace_hopper.jpg")
    [face_accurate] = accurate.detect(EXAMPLES / "grace_hopper.jpg")
    eye_distance = np.linalg.norm(face_fast.keypoints[0] - face_fast.keypoints[1])
    assert np.abs(face_accurate.keypoints - face_fast.keypoints).max() < 0.15 * eye_distance


def test_a_model_that_is_nowhere_is_a_clear_error(monkeypatch, tmp_path):
    import huggingface_hub.constants

    from fkp.errors import FkpError
    from fkp.model import load_model

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FKP_MODEL", raising=False)
    with pytest.raises(FkpError, match=r"no model 'acurate': not a shipped model \('fast', 'accurate'\)"):
        FaceKeypoints("acurate")  # a typo: neither a name, a folder nor a Hub id
    monkeypatch.setenv("FKP_MODEL", "acurate")
    with pytest.raises(FkpError, match=r"no model \$FKP_MODEL='acurate'"):
        FaceKeypoints()
    monkeypatch.delenv("FKP_MODEL")
    for path in ("./accurate", str(tmp_path / "missing"), tmp_path / "missing", "~/no-such-fkp-model", "C:/x"):
        with pytest.raises(FkpError, match="no such model folder"):  # written as paths: never Hub ids
            load_model(path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FkpError, match="empty is not a model folder: it has no config.json or model.safetensors"):
        load_model("empty")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network in the tests
    with pytest.raises(FkpError, match="'someone/no-such-model' is not a local folder, and the Hugging Face Hub"):
        load_model("someone/no-such-model")


def test_a_folder_named_like_a_shipped_model_is_loaded_when_written_as_a_path(monkeypatch, tmp_path):
    """'accurate' is the shipped model (a warning says how to reach the folder instead); ./accurate, a
    Path, and every command that writes into a folder, load the folder itself; resolving is idempotent."""
    import warnings

    from fkp.model import load_model
    from fkp.shipped import shipped_name

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FKP_MODEL", raising=False)
    folder = tmp_path / "accurate"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):  # the fast model's files, in a folder named "accurate"
        (folder / name).write_bytes((DEFAULT_MODEL / name).read_bytes())
    with pytest.warns(UserWarning, match="give ./accurate for the folder"):
        assert FaceKeypoints("accurate").model.stride == 2  # the shipped one
    assert FaceKeypoints("./accurate").model.stride == 4 and load_model(Path("accurate")).stride == 4
    assert FaceKeypoints("./accurate").backend == "onnxruntime"  # the folder has no int8 copy: never another's
    (tmp_path / "fast").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing was named: no warning about ./fast
        assert model_source(None) == str(DEFAULT_MODEL)
    for given in ("fast", "accurate", "./accurate", Path("accurate"), str(folder), "user/model", None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            once = model_source(given)
            assert model_source(once) == once  # idempotent
    assert shipped_name(f"{DEFAULT_MODEL}/../weights") == "fast" and shipped_name("./accurate") is None


def test_only_a_small_network_runs_small_batches_on_one_thread():
    """Waking a second thread costs more than it gives on the fast network, not on the accurate one
    (fkp.runtime.SINGLE_THREAD_MAX_MACS); the count itself leaves a training model's statistics alone."""
    from fkp.model import load_model
    from fkp.runtime import KEYPOINT_SINGLE_THREAD_BELOW, conv_macs, single_thread_below

    fast, accurate = load_model("fast"), load_model("accurate")
    assert 60e6 < conv_macs(fast) < 80e6 and 900e6 < conv_macs(accurate) < 1100e6
    assert single_thread_below(fast) == KEYPOINT_SINGLE_THREAD_BELOW and single_thread_below(accurate) == 0
    fast.train()
    before = {k: v.clone() for k, v in fast.state_dict().items()}
    conv_macs(fast)
    assert fast.training and all(torch.equal(before[k], v) for k, v in fast.state_dict().items())
