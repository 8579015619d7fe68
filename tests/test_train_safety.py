"""train.py keeps one run per --output_dir, writes checkpoints and exports completely or not at all,
resumes a killed run faithfully, and reports bad input in one line."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import FIXTURES, ROOT

from fkp.errors import FkpError

# a very small model on the real-face fixture frames: 123 training images, 30 for validation
SMALL = [
    "--dataset",
    str(FIXTURES / "frames.parquet"),
    "--val_fraction",
    "0.25",
    "--model_config",
    "fkp",
    "--num_stacks",
    "1",
    "--depth",
    "2",
    "--channels",
    "16",
    "--warmup_steps",
    "2",
    "--learning_rate",
    "3e-3",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
DETERMINISTIC = ("epoch", "train_loss", "val_rmse", "val_nme", "lr")  # the history fields that are not timings


@pytest.fixture(autouse=True)
def one_thread():
    """In-process training on one thread, as in the subprocesses (ENV): faster on a shared, busy CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def files(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def test_one_run_per_output_dir(tmp_path, monkeypatch):
    import fkp.train
    from fkp.run_folder import latest_checkpoint
    from fkp.train import main, parse_args

    exported_summaries = []  # train_summary.json as each export sees it: its best must agree with its history
    real_export = fkp.train.export

    def recording_export(model, output_dir, *args, **kwargs):
        exported_summaries.append(json.loads((output_dir / "train_summary.json").read_text()))
        real_export(model, output_dir, *args, **kwargs)

    monkeypatch.setattr(fkp.train, "export", recording_export)
    first = main(parse_args([*SMALL, "--batch_size", "16", "--epochs", "2", "--output_dir", str(tmp_path)]))
    assert exported_summaries and first["best_val_rmse"] == min(h["val_rmse"] for h in first["history"])
    for summary in exported_summaries:
        assert summary["best_val_rmse"] == min(h["val_rmse"] for h in summary["history"])
    before = files(tmp_path)

    refusal = r"not empty .*--resume_from_checkpoint latest.*another --output_dir.*--overwrite_output_dir"
    with pytest.raises(FkpError, match=refusal):
        main(parse_args([*SMALL, "--batch_size", "16", "--epochs", "1", "--seed", "7", "--output_dir", str(tmp_path)]))
    assert files(tmp_path) == before  # the refused run touched nothing
    with pytest.raises(FkpError, match="pass one of them"):
        main(
            parse_args(
                [
                    *SMALL,
                    "--batch_size",
                    "16",
                    "--output_dir",
                    str(tmp_path),
                    "--overwrite_output_dir",
                    "--resume_from_checkpoint",
                    "latest",
                ]
            )
        )

    (tmp_path / "notes.txt").write_text("the user's own file")
    second = main(
        parse_args(
            [
                *SMALL,
                "--batch_size",
                "16",
                "--epochs",
                "1",
                "--seed",
                "7",
                "--output_dir",
                str(tmp_path),
                "--overwrite_output_dir",
            ]
        )
    )
    assert [h["epoch"] for h in second["history"]] == [1]
    # nothing of the first run is left: its epoch-2 checkpoint is gone, and the exports are the new run's
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["checkpoint-7"]
    marker = json.loads((tmp_path / "checkpoints" / "checkpoint-7" / "fkp_checkpoint.json").read_text())
    assert marker["run"]["seed"] == 7 and marker["epoch"] == 1
    assert json.loads((tmp_path / "training_args.json").read_text())["seed"] == 7
    assert json.loads((tmp_path / "metrics.json").read_text())["rmse"] == second["history"][0]["val_rmse"]
    assert (tmp_path / "notes.txt").read_text() == "the user's own file"

    # a resume checks that the checkpoint is this run's
    mismatch = r"belongs to another run \(--seed 7 there, 42 here; --batch_size 16 there, 8 here\)"
    with pytest.raises(FkpError, match=mismatch):
        main(
            parse_args(
                [
                    *SMALL,
                    "--batch_size",
                    "8",
                    "--epochs",
                    "2",
                    "--output_dir",
                    str(tmp_path),
                    "--resume_from_checkpoint",
                    "latest",
                ]
            )
        )
    assert latest_checkpoint(tmp_path / "checkpoints").name == "checkpoint-7"


def test_latest_skips_partial_checkpoints(tmp_path):
    from fkp.run_folder import checkpoints, latest_checkpoint
    from fkp.train import main, parse_args

    common = [*SMALL, "--batch_size", "16", "--output_dir", str(tmp_path)]
    main(parse_args([*common, "--epochs", "1"]))
    folder = tmp_path / "checkpoints"
    complete = folder / "checkpoint-7"
    shutil.copytree(complete, folder / "checkpoint-20.tmp")  # a save that was not renamed into place
    shutil.copytree(complete, folder / "checkpoint-30", ignore=shutil.ignore_patterns("fkp_checkpoint.json"))
    shutil.copytree(complete, folder / "checkpoint-40")
    weights = folder / "checkpoint-40" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # cut short after the marker was written
    assert checkpoints(folder) == [complete] and latest_checkpoint(folder) == complete

    for partial in ("checkpoint-20.tmp", "checkpoint-30", "checkpoint-40"):
        with pytest.raises(FkpError, match="not a complete checkpoint"):
            main(parse_args([*common, "--epochs", "2", "--resume_from_checkpoint", str(folder / partial)]))
    damaged = folder / "checkpoint-7" / "optimizer.bin"  # right size, wrong bytes
    original = damaged.read_bytes()
    damaged.write_bytes(b"\0" * len(original))
    with pytest.raises(FkpError, match="checkpoint-7 is damaged or incomplete"):
        main(parse_args([*common, "--epochs", "2", "--resume_from_checkpoint", "latest"]))
    damaged.write_bytes(original)

    summary = main(parse_args([*common, "--epochs", "2", "--resume_from_checkpoint", "latest"]))
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    assert not (folder / "checkpoint-20.tmp").exists()  # a killed save's leftovers are removed
    assert [p.name for p in checkpoints(folder)] == ["checkpoint-7", "checkpoint-14"]

    # with no complete checkpoint left, `latest` does not quietly start the run again over its exports
    for complete in checkpoints(folder):
        shutil.rmtree(complete)
    with pytest.raises(FkpError, match="holds no complete checkpoint, only checkpoint-30, checkpoint-40"):
        main(parse_args([*common, "--epochs", "2", "--resume_from_checkpoint", "latest"]))


def test_truncated_model_safetensors_is_reported_by_name(tmp_path):
    from fkp.model import build_model, load_model

    build_model("fkp", channels=16).save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(FkpError, match=rf"{weights} is damaged or incomplete"):
        load_model(str(tmp_path))
    command = [sys.executable, "-m", "fkp.cli", "evaluate", "--model", str(tmp_path), "--data", str(FIXTURES / "ytf68")]
    result = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"{weights} is damaged or incomplete" in result.stderr.strip().splitlines()[-1]
    weights.write_bytes(b"")
    (tmp_path / "config.json").write_text('{"channels": 16,')
    with pytest.raises(FkpError, match="config.json is damaged or incomplete"):
        load_model(str(tmp_path))


def test_killed_mid_epoch_and_resumed_ends_like_the_uninterrupted_run(tmp_path):
    from fkp.run_folder import checkpoint_info, latest_checkpoint

    # 15 batches of 8 per epoch; the interrupted run saves every 3 optimizer steps and is killed mid-epoch
    args = [sys.executable, "train.py", *SMALL, "--batch_size", "8", "--epochs", "2"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    log = open(tmp_path / "whole.log", "w")  # a file, not a pipe: tqdm's progress would fill a pipe nobody reads yet
    uninterrupted = subprocess.Popen(
        [*args, "--output_dir", str(whole)], cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT
    )
    killed = subprocess.Popen(
        [*args, "--output_dir", str(cut), "--checkpointing_steps", "3"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while latest_checkpoint(cut / "checkpoints") is None:
        assert killed.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    resumed_from = checkpoint_info(latest_checkpoint(cut / "checkpoints"))
    assert resumed_from["epoch"] == 0 and 0 < resumed_from["batches_in_epoch"] < 15  # mid-epoch
    assert not (cut / "train_summary.json").exists()

    resume = ["--output_dir", str(cut), "--checkpointing_steps", "3", "--resume_from_checkpoint", "latest"]
    resumed = subprocess.run([*args, *resume], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert uninterrupted.wait(timeout=600) == 0, (tmp_path / "whole.log").read_text()[-3000:]
    log.close()
    expected = json.loads((whole / "train_summary.json").read_text())
    got = json.loads((cut / "train_summary.json").read_text())
    assert [{k: h[k] for k in DETERMINISTIC} for h in got["history"]] == [
        {k: h[k] for k in DETERMINISTIC} for h in expected["history"]
    ]
    assert got["best_val_rmse"] == expected["best_val_rmse"] == min(h["val_rmse"] for h in got["history"])
    assert got["ranks"] == expected["ranks"]  # samples seen, counted across the kill
    assert (cut / "model.safetensors").read_bytes() == (whole / "model.safetensors").read_bytes()


@pytest.mark.parametrize("entry", [["train.py"], ["-m", "fkp.train"]])
def test_header_only_csv_is_one_line_error(tmp_path, entry):
    header = (FIXTURES / "kaggle" / "training.csv").read_text().splitlines()[0]
    (tmp_path / "training.csv").write_text(header + "\n")
    csv = tmp_path / "training.csv"
    command = [sys.executable, *entry, "--dataset", str(csv), "--output_dir", str(tmp_path / "out")]
    result = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith(f"train.py: error: {tmp_path / 'training.csv'}"), result.stderr


def test_a_run_recorded_before_crop_existed_cut_its_frames_where_the_labels_put_them():
    from fkp.run_folder import identity_mismatch, run_identity

    old = run_identity({"dataset": ["a", "b"]}, None)  # training_args.json of a run before --crop
    assert old["crop"] == ["labels", "labels"]
    same = run_identity({"dataset": ["a", "b"], "crop": ["labels"]}, None)
    assert identity_mismatch(old, same) == []  # one value for all sources is that value for each
    other = run_identity({"dataset": ["a", "b"], "crop": ["labels", "detector"]}, None)
    assert identity_mismatch(old, other) == [
        "--crop ['labels', 'labels'] there, ['labels', 'detector:blazeface_full'] here"
    ]
    # a run recorded before crops named their detector meant the default one
    named = run_identity({"dataset": ["a", "b"], "crop": ["labels", "detector:blazeface_full"]}, None)
    assert identity_mismatch(other, named) == []
    assert identity_mismatch({"crop": ["labels", "detector"]}, named) == []  # such a run's checkpoint marker
    short_range = run_identity({"dataset": ["a", "b"], "crop": ["labels", "detector:blazeface"]}, None)
    assert identity_mismatch(named, short_range) == [
        "--crop ['labels', 'detector:blazeface_full'] there, ['labels', 'detector:blazeface'] here"
    ]
