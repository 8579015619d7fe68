import json
import os
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, ROOT, TINY


def checkpoint_of_epoch(folder, epoch):
    """The complete checkpoint saved at the end of an epoch (checkpoints are named by optimizer steps)."""
    from fkp.run_folder import checkpoint_info, checkpoints

    ends = [path for path in checkpoints(folder) if checkpoint_info(path)["batches_in_epoch"] == 0]
    return next(path for path in ends if checkpoint_info(path)["epoch"] == epoch)


def test_training_lowers_validation_rmse_and_exports(trained_model):
    summary = json.loads((trained_model / "summary_for_tests.json").read_text())
    rmse = [epoch["val_rmse"] for epoch in summary["history"]]
    assert summary["history"][-1]["train_loss"] < summary["history"][0]["train_loss"]
    assert min(rmse) < 0.8 * rmse[0], rmse
    metrics = json.loads((trained_model / "metrics.json").read_text())
    assert metrics["rmse"] == pytest.approx(min(rmse)) and metrics["exported_by_rank"] == 0
    assert {"config.json", "model.safetensors", "training_args.json"} <= {p.name for p in trained_model.iterdir()}
    assert len(list((trained_model / "checkpoints").glob("checkpoint-*"))) == 2  # --checkpoints_total_limit


def test_resume_from_latest_checkpoint(tmp_path):
    from train import main, parse_args

    common = [
        "--dataset",
        str(FIXTURES / "frames.parquet"),
        "--output_dir",
        str(tmp_path),
        *TINY,
        "--batch_size",
        "32",
        "--val_fraction",
        "0.25",
    ]
    main(parse_args([*common, "--epochs", "1"]))
    summary = main(parse_args([*common, "--epochs", "2", "--resume_from_checkpoint", "latest"]))
    assert [h["epoch"] for h in summary["history"]] == [1, 2]  # epoch 1 was not repeated, and is still in the history
    assert checkpoint_of_epoch(tmp_path / "checkpoints", 2).name == "checkpoint-6"  # by optimizer steps: 3 an epoch


def test_init_from_a_saved_model_fine_tunes_it(trained_model, tmp_path):
    from train import main, parse_args

    common = [
        "--dataset",
        str(FIXTURES / "frames.parquet"),
        "--batch_size",
        "8",
        "--val_fraction",
        "0.25",
        "--epochs",
        "1",
        "--learning_rate",
        "1e-5",
        "--warmup_steps",
        "1",
    ]
    tuned = main(parse_args([*common, "--output_dir", str(tmp_path / "tuned"), "--init_from", str(trained_model)]))
    scratch = main(parse_args([*common, "--output_dir", str(tmp_path / "scratch"), *TINY]))
    start = json.loads((trained_model / "metrics.json").read_text())["rmse"]
    assert tuned["history"][0]["val_rmse"] < 1.3 * start  # kept what the saved model knew (a tiny learning rate)
    assert scratch["history"][0]["val_rmse"] > 1.2 * tuned["history"][0]["val_rmse"]
    assert json.loads((tmp_path / "tuned" / "config.json").read_text()) == json.loads(
        (trained_model / "config.json").read_text()
    )
    card = (tmp_path / "tuned" / "README.md").read_text()
    assert f"--init_from {trained_model}" in card and f"started from the weights of `{trained_model}`" in card
    with pytest.raises(ValueError, match="drop --depth"):
        main(
            parse_args(
                [*common, "--output_dir", str(tmp_path / "bad"), "--init_from", str(trained_model), "--depth", "2"]
            )
        )
    with pytest.raises(ValueError, match="grow only adds"):
        main(
            parse_args(
                [*common, "--output_dir", str(tmp_path / "bad"), "--init_from", str(trained_model), "--channels", "16"]
            )
        )


def test_init_from_with_more_channels_grows_the_saved_model(trained_model, tmp_path):
    from train import main, parse_args

    grown = main(
        parse_args(
            [
                "--dataset",
                str(FIXTURES / "frames.parquet"),
                "--batch_size",
                "8",
                "--val_fraction",
                "0.25",
                "--epochs",
                "1",
                "--learning_rate",
                "1e-5",
                "--warmup_steps",
                "1",
                "--output_dir",
                str(tmp_path),
                "--init_from",
                str(trained_model),
                "--channels",
                "48",
            ]
        )
    )
    start = json.loads((trained_model / "metrics.json").read_text())["rmse"]
    assert grown["history"][0]["val_rmse"] < 1.3 * start  # the wider model starts from what the saved one knew
    assert json.loads((tmp_path / "config.json").read_text())["channels"] == 48


@pytest.mark.parametrize("average_wins", [True, False])
def test_average_last_epochs(tmp_path, monkeypatch, average_wins):
    import torch
    from safetensors.torch import load_file

    import fkp.train
    from train import main, parse_args

    # validation scores set by the test: epochs score 3, 2, 1.5 px; the average 1.0 or 9.0 px
    real_evaluate, scores = fkp.train.evaluate, iter([3.0, 2.0, 1.5, 1.0 if average_wins else 9.0])

    def scored_evaluate(*args, **kwargs):
        return {**real_evaluate(*args, **kwargs), "rmse": next(scores)}

    monkeypatch.setattr(fkp.train, "evaluate", scored_evaluate)
    common = [
        "--dataset",
        str(FIXTURES / "frames.parquet"),
        *TINY,
        "--batch_size",
        "16",
        "--val_fraction",
        "0.25",
        "--learning_rate",
        "3e-3",
        "--warmup_steps",
        "2",
        "--output_dir",
        str(tmp_path),
        "--checkpoints_total_limit",
        "3",
    ]
    summary = main(parse_args([*common, "--epochs", "3", "--average_last", "2"]))
    assert summary["average"]["epochs"] == [2, 3] and summary["average"]["val_rmse"] == (1.0 if average_wins else 9.0)
    saved = torch.load(checkpoint_of_epoch(tmp_path / "checkpoints", 3) / "custom_checkpoint_0.pkl", weights_only=True)
    assert saved["averaged_epochs"] == [2, 3]  # the running mean is in each checkpoint: a resumed run keeps it
    ends = [load_file(checkpoint_of_epoch(tmp_path / "checkpoints", n) / "model.safetensors") for n in (2, 3)]
    exported, metrics = load_file(tmp_path / "model.safetensors"), json.loads((tmp_path / "metrics.json").read_text())
    card = (tmp_path / "README.md").read_text()
    for key in ("heads.0.weight", "stem.0.1.running_var"):
        mean = (ends[0][key] + ends[1][key]) / 2
        assert torch.allclose(exported[key], mean if average_wins else ends[1][key], atol=1e-6)
    if average_wins:
        assert metrics["averaged_epochs"] == [2, 3] and metrics["rmse"] == 1.0 and summary["best_val_rmse"] == 1.0
        assert "mean of the weights at the end of epochs 2-3" in card
    else:
        assert "averaged_epochs" not in metrics and metrics["rmse"] == 1.5 and metrics["epoch"] == 3
        assert "exported weights are from epoch 3" in card


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_training(tmp_path):
    env = {
        **os.environ,
        "ACCELERATE_USE_CPU": "1",
        "MASTER_ADDR": "127.0.0.1",
        "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        "train.py",
        "--dataset",
        str(FIXTURES / "frames.parquet"),
        "--output_dir",
        str(tmp_path),
        *TINY,
        "--epochs",
        "3",
        "--batch_size",
        "8",
        "--eval_batch_size",
        "7",
        "--val_fraction",
        "0.25",
        "--learning_rate",
        "3e-3",
        "--warmup_steps",
        "5",
        "--teacher",  # each process labels a share of the frames, gathered (fkp.distill)
        str(ROOT / "fkp" / "weights"),
        "--distill_weight",
        "0.2",
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert sorted(r["rank"] for r in summary["ranks"]) == [0, 1] and all(r["samples"] > 0 for r in summary["ranks"])
    from fkp.data import load_source, split_dataset

    train, val = split_dataset(load_source(FIXTURES / "frames.parquet"), 0.25)
    assert (
        sum(r["samples"] for r in summary["ranks"]) == 3 * (len(train) // 16) * 16
    )  # each batch seen once, split over ranks
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (
        metrics["n_images"] == len(val) and metrics["num_processes"] == 2
    )  # whole validation set, once (no padding duplicates)
    assert len(val) % 14 != 0  # the uneven tail that gather_for_metrics must trim
    assert summary["history"][-1]["train_loss"] < summary["history"][0]["train_loss"]
    exports = [line for line in result.stdout.splitlines() if "exported model" in line]
    assert exports and all(line.startswith("rank 0 exported") for line in exports)
    assert len(exports) == sum(
        1
        for i, h in enumerate(summary["history"])
        if h["val_rmse"] < min([np.inf] + [g["val_rmse"] for g in summary["history"][:i]])
    )


def test_evaluate_json_and_table(trained_model):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fkp.evaluate",
            "--model",
            str(trained_model),
            "--data",
            str(FIXTURES / "ytf68"),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    metrics = json.loads(result.stdout)
    assert metrics["n_images"] == 8 and set(metrics["per_keypoint"]) >= {"nose_tip", "left_eye_center"}
    from fkp.data import load_source, to_arrays
    from fkp.landmarker import FaceKeypoints
    from fkp.metrics import keypoint_metrics

    images, keypoints = to_arrays(load_source(FIXTURES / "ytf68"))
    expected = keypoint_metrics(FaceKeypoints(str(trained_model)).predict_frames(images)[0], keypoints)
    assert metrics["rmse"] == pytest.approx(expected["rmse"], rel=1e-4) and metrics["nme"] == pytest.approx(
        expected["nme"], rel=1e-4
    )
    assert metrics["per_keypoint"]["nose_tip"]["count"] == 8
    table = subprocess.run(
        [
            sys.executable,
            "-m",
            "fkp.evaluate",
            "--model",
            str(trained_model),
            "--data",
            str(FIXTURES / "kaggle" / "training.csv"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "RMSE" in table and "mouth_center_bottom_lip" in table and "images 12" in table


def test_metrics_ignore_missing_points():
    from fkp.metrics import keypoint_metrics

    target = np.full((2, 15, 2), 50.0)
    target[:, 0] = [60, 40]  # left eye centre
    target[:, 1] = [30, 40]  # right eye centre
    target[:, 3], target[:, 5] = [70, 40], [20, 40]  # outer corners: inter-ocular 50 px
    predicted = target + [3.0, 4.0]  # 5 px off everywhere
    target[1, 10] = np.nan
    predicted[1, 10] = 1000.0  # must not count
    metrics = keypoint_metrics(predicted, target)
    assert metrics["rmse"] == pytest.approx(np.sqrt(12.5)) and metrics["nme"] == pytest.approx(0.1)
    assert metrics["per_keypoint"]["nose_tip"]["count"] == 1 and metrics["n_points"] == 29


def test_kaggle_submission(trained_model, tmp_path):
    out = tmp_path / "submission.csv"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fkp.submit",
            "--model",
            str(trained_model),
            "--test",
            str(FIXTURES / "kaggle" / "test.csv"),
            "--lookup",
            str(FIXTURES / "kaggle" / "IdLookupTable.csv"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    submission, lookup = pd.read_csv(out), pd.read_csv(FIXTURES / "kaggle" / "IdLookupTable.csv")
    assert list(submission.columns) == ["RowId", "Location"] and submission.RowId.tolist() == lookup.RowId.tolist()
    assert submission.Location.between(0, 96).all() and submission.Location.notna().all()
    from fkp.data import load_source, to_arrays
    from fkp.keypoints import KAGGLE_COLUMNS
    from fkp.landmarker import FaceKeypoints

    predicted = FaceKeypoints(str(trained_model)).predict_frames(
        to_arrays(load_source(FIXTURES / "kaggle" / "test.csv"))[0]
    )[0]
    flat = np.clip(predicted.reshape(4, -1), 0, 96)
    expected = [
        flat[image - 1, KAGGLE_COLUMNS.index(feature)] for image, feature in zip(lookup.ImageId, lookup.FeatureName)
    ]
    assert np.allclose(submission.Location, expected, atol=1e-4)
