"""Model cards and `fkp export` for runs on several sources (issue 17), and for the single-source and
Kaggle-style runs before them: small synthetic run folders, a tiny untrained model, the ytf68-layout
fixture copied under each source's name; nothing downloads."""

import json
import shlex
import shutil

import numpy as np
import pytest
from conftest import FIXTURES, ROOT
from PIL import Image

from fkp.card import PALETTE, run_sources, write_model_card
from fkp.errors import FkpError
from fkp.export import choose_sources
from fkp.training_args import parse_args

# the records of fkp 0.5.0's weights (trained on ytf68 alone): a single-source run's card must read as before
YTF68_RUN = ROOT / "tests" / "fixtures" / "ytf68_run"
RECORDS = ("config.json", "training_args.json", "metrics.json", "train_summary.json")


def per_keypoint(rmse: float) -> dict:
    from fkp.keypoints import KEYPOINT_NAMES

    return {name: {"rmse": rmse, "nme": rmse / 40, "count": 4} for name in KEYPOINT_NAMES}


def multi_source_run(tmp_path, with_model: bool = False):
    """A run folder as train.py leaves it after training on two ytf68-layout sources named ytf68 and
    helen_afw68 (copies of the fixture; validation share 0.5: two people, four photos, each)."""
    sources = []
    for name in ("ytf68", "helen_afw68"):
        sources.append(tmp_path / "data" / name)
        shutil.copytree(FIXTURES / "ytf68", sources[-1])
    folder = tmp_path / "run"
    folder.mkdir()
    command = ["--dataset", *map(str, sources), "--output_dir", str(folder), "--val_fraction", "0.5"]
    command += ["--label_x_shift", "-1.3", "0", "--label_correction", "ytf68", "none", "--stride", "4"]
    args = {**vars(parse_args(command)), "epochs": 4}
    (folder / "training_args.json").write_text(json.dumps(args))
    if with_model:
        from fkp.model import build_model

        build_model("fkp", num_stacks=1, channels=16, stride=4).save_pretrained(folder)
    else:
        (folder / "config.json").write_text(json.dumps({"num_stacks": 1, "depth": 3, "channels": 16, "stride": 4}))
    history = [
        {
            "epoch": epoch,
            "val_rmse": 3.0 - 0.3 * epoch,
            "val_nme": 0.08 - 0.008 * epoch,
            "val_rmse/ytf68": 2.8 - 0.3 * epoch,
            "val_nme/ytf68": 0.07 - 0.008 * epoch,
            "val_rmse/helen_afw68": 3.2 - 0.2 * epoch + 0.4 * (epoch == 4),
            "val_nme/helen_afw68": 0.09 - 0.006 * epoch + 0.01 * (epoch == 4),
        }
        for epoch in range(1, 5)
    ]
    (folder / "train_summary.json").write_text(json.dumps({"epochs": 4, "wall_seconds": 600, "history": history}))
    best = history[2]
    metrics = {
        "rmse": best["val_rmse"],
        "nme": best["val_nme"],
        "n_images": 8,
        "epoch": 3,
        "per_keypoint": per_keypoint(2.1),
        "sources": {
            "ytf68": {"rmse": best["val_rmse/ytf68"], "nme": best["val_nme/ytf68"], "count": 4},
            "helen_afw68": {"rmse": best["val_rmse/helen_afw68"], "nme": best["val_nme/helen_afw68"], "count": 4},
        },
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder, [str(s) for s in sources]


def test_card_of_a_run_on_two_sources_names_each_source_its_terms_labels_split_and_curves(tmp_path):
    folder, (ytf, helen) = multi_source_run(tmp_path)
    card = write_model_card(folder).read_text()

    assert "license: other" in card and "license_name: research-data-terms" in card
    assert f"--dataset {ytf} {helen}" in card and "--label_correction ytf68 none" in card  # the training command
    provenance = card.split("## Training data and provenance", 1)[1].split("\n## ", 1)[0]
    assert f"### `ytf68` (`--dataset {ytf}`)" in provenance and f"### `helen_afw68` (`--dataset {helen}`)" in provenance
    assert (
        "YouTube Faces" in provenance
        and "Flickr" in provenance
        and "300-W's annotations are for research use" in provenance
    )
    assert provenance.count("inherits") == 2  # each source's terms, plainly
    assert "by person (never by frame" in provenance and "by source photo" in provenance
    assert "4 validation frames" in provenance and "4 validation faces" in provenance
    assert (
        "moved by -1.30 photo pixels (`--label_x_shift -1.3`), then each keypoint by the `ytf68` correction"
        in provenance
    )
    assert "`helen_afw68`'s labels are read as given (300-W's annotation)" in provenance
    assert "follows **300-W's label convention**" in provenance and "benchmarks/label_offset.py" in provenance
    assert "`right_eyebrow_inner_end` (+4.55, +1.23)" in provenance  # read from fkp.data.conventions

    assert "![validation RMSE and per-source NME per epoch](learning_curve.png)" in card
    assert "| `helen_afw68` | 3.000 / 0.0840 | 2.600 / 0.0720 | 2.800 / 0.0760 | 0.0720 (3) |" in card
    assert "| `ytf68` | 4 | 1.900 | 0.0460 |" in card and "| all sources, pooled | 8 | 2.100 | 0.0560 |" in card
    assert "### Per keypoint (all sources, pooled)" in card
    assert "- Trained only on these sources; accuracy on other populations and conditions is not measured" in card
    assert (
        "  - `ytf68`: frames of 282 people from YouTube" in card and "  - `helen_afw68`: 1,207 faces in Flickr" in card
    )
    assert "**These weights are not**" in card

    curve = Image.open(folder / "learning_curve.png").convert("RGB")
    assert curve.size == (720, 800)  # two panels: RMSE over all sources, NME per source
    pixels = np.asarray(curve)
    for colour, rows in ((PALETTE[0], slice(0, 400)), (PALETTE[1], slice(400, 800)), (PALETTE[2], slice(400, 800))):
        assert (pixels[rows] == colour).all(-1).sum() > 50, colour


def test_card_intro_and_notes_go_where_a_reader_needs_them(tmp_path):
    """--summary (``intro``): right under the title, before Use; --notes: after the figures, before Limitations."""
    folder, _ = multi_source_run(tmp_path)
    card = write_model_card(folder, notes="## How it was made\n\nGrown.", intro="**The accurate one.**").read_text()
    title, intro, use = card.index("# fkp: 15 facial"), card.index("**The accurate one.**"), card.index("## Use")
    notes, limitations = card.index("## How it was made"), card.index("## Limitations")
    assert title < intro < use < notes < limitations


def test_card_of_a_single_source_run_reads_as_before(tmp_path):
    for name in RECORDS:
        shutil.copy(YTF68_RUN / name, tmp_path / name)
    evaluation = {
        "command": "fkp evaluate --model fkp/weights --data ../shared/data/ytf68 --split val --label-x-shift -1.3",
        "metrics": {**json.loads((YTF68_RUN / "metrics.json").read_text()), "rmse": 1.336, "nme": 0.034},
        "flip_metrics": {"rmse": 1.316, "nme": 0.0333},
    }
    for figures in (None, evaluation):
        card = write_model_card(tmp_path, figures).read_text()
        assert "license: mit" in card and "license_name" not in card
        assert KNOWN_YTF68_OPENING in card and "**Label correction:** every x label was moved by -1.30 photo" in card
        assert (
            "**Split:** `../shared/data/ytf68` is split by person (never by frame): a person is in validation "
            'when md5("0:" + name) falls in the lowest 10%.' in card
        )
        assert "![validation RMSE per epoch](learning_curve.png)" in card and "lowest NME" not in card
        assert "- Trained on frames of 282 people from YouTube videos: mostly frontal" in card
        assert "MIT (the fkp code and these weights). The training frames come from YouTube Faces" in card
        assert "300-W" not in card and "###" not in card.split("## Validation accuracy")[0]
    assert "| this model | 1.336 | 0.0340 |\n| with flip test-time augmentation | 1.316 | 0.0333 |" in card
    assert (
        "From `fkp evaluate --model fkp/weights --data ../shared/data/ytf68 --split val --label-x-shift -1.3` (add"
        in card
    )
    assert Image.open(tmp_path / "learning_curve.png").size == (720, 400)


KNOWN_YTF68_OPENING = "`ytf68`: colour video frames of 282 people from YouTube Faces with 68 iBUG landmarks"


def test_card_of_a_kaggle_run(tmp_path):
    args = vars(parse_args(["--dataset", "data/training.zip", "--output_dir", "runs/kaggle"]))
    (tmp_path / "training_args.json").write_text(json.dumps(args))
    (tmp_path / "metrics.json").write_text(json.dumps({"rmse": 2.0, "nme": 0.05, "epoch": 2}))
    card = write_model_card(tmp_path).read_text()
    assert "Kaggle's Facial Keypoints Detection `training.csv`" in card and "license: mit" in card
    assert "- Trained on Kaggle's 96x96 training crops;" in card and "competition's rules" in card
    assert "| this model | 2.000 | 0.0500 |" in card and "YouTube" not in card


def test_sources_come_from_old_and_new_records_and_can_be_chosen_per_source():
    old = run_sources({"dataset": "../shared/data/ytf68", "label_x_shift": -1.3})
    assert old == [
        {
            "data": "../shared/data/ytf68",
            "name": "ytf68",
            "label_x_shift": -1.3,
            "label_correction": "none",
            "crop": "labels",
        }
    ]
    assert run_sources({"dataset": "f.parquet", "label_x_shift": None})[0]["label_x_shift"] == 0.0
    new = run_sources(
        {"dataset": ["d/ytf68", "d/helen_afw68"], "label_x_shift": [-1.3, 0.0], "label_correction": ["ytf68", "none"]}
    )
    assert [(s["name"], s["label_x_shift"], s["label_correction"]) for s in new] == [
        ("ytf68", -1.3, "ytf68"),
        ("helen_afw68", 0.0, "none"),
    ]
    one_for_all = run_sources({"dataset": ["a", "b"], "label_x_shift": [0.5], "label_correction": ["none"]})
    assert [s["label_x_shift"] for s in one_for_all] == [0.5, 0.5]

    assert choose_sources(new, []) == new  # --data alone: the run's own sources
    # a source is matched by its name, wherever it now lies; explicit values win
    (helen,) = choose_sources(new, ["/elsewhere/helen_afw68"])
    assert (helen["label_x_shift"], helen["label_correction"]) == (0.0, "none")
    chosen = choose_sources(new, ["x/ytf68", "x/helen_afw68"], [-1.0], ["none", "ytf68"])
    assert [(s["label_x_shift"], s["label_correction"]) for s in chosen] == [(-1.0, "none"), (-1.0, "ytf68")]
    assert choose_sources(old, ["other.parquet"])[0]["label_x_shift"] == -1.3  # the run's one value, as before
    with pytest.raises(FkpError, match="--label-x-shift: other.parquet is none of the run's sources"):
        choose_sources(new, ["other.parquet"])
    assert choose_sources(new, ["other.parquet"], [0.0], ["none"])[0]["name"] == "other"
    with pytest.raises(FkpError, match="--label-correction: give one value, or one per --data source \\(2\\), not 3"):
        choose_sources(new, ["a", "b"], None, ["none"] * 3)
    with pytest.raises(FkpError, match="recorded no --dataset"):
        choose_sources([], [])


def test_evaluate_scores_frames_of_either_crop(trained_model, capsys):
    from fkp.evaluate import main

    ytf = str(FIXTURES / "ytf68")
    labels = evaluate_json(f"fkp evaluate --model {trained_model} --data {ytf}", capsys)
    detector = evaluate_json(f"fkp evaluate --model {trained_model} --data {ytf} --crop detector", capsys)
    assert labels["n_images"] == detector["n_images"] and labels["crop"] == "labels"
    assert detector["crop"] == "detector" and detector["rmse"] != labels["rmse"]
    with pytest.raises(SystemExit):
        main(["--model", str(trained_model), "--data", ytf, "--pipeline", "photo", "--crop", "detector"])
    assert "--crop is for --pipeline frame" in capsys.readouterr().err


def test_each_source_keeps_the_crop_its_run_read_it_with(tmp_path):
    import shutil

    from fkp.export import evaluate_command

    photos = tmp_path / "helen_afw68"  # a ytf68-layout folder of photos
    shutil.copytree(FIXTURES / "ytf68", photos)
    recorded = run_sources({"dataset": ["d/ytf68", str(photos)], "crop": ["labels", "detector"]})
    assert [s["crop"] for s in recorded] == ["labels", "detector"]
    assert [s["crop"] for s in run_sources({"dataset": ["a", "b"], "crop": ["detector"]})] == ["detector"] * 2
    # the run's crop for its own photo folders (found by name), the labels' for any other
    elsewhere = tmp_path / "moved" / "helen_afw68"
    shutil.copytree(photos, elsewhere)
    chosen = choose_sources(recorded, [str(elsewhere), str(FIXTURES / "ytf68"), "other.parquet"], [0.0])
    assert [s["crop"] for s in chosen] == ["detector", "labels", "labels"]
    helen = chosen[0]
    assert evaluate_command("runs/m", helen, "val", 0.1).endswith("--label-x-shift 0 --crop detector")
    assert "--crop" not in evaluate_command("runs/m", helen, "val", 0.1, "--pipeline", "photo")
    assert "--crop" not in evaluate_command("runs/m", chosen[1], "val", 0.1)
    # a converted copy (or a Hub id) of that source holds frames already: there is no crop to choose
    assert choose_sources(recorded, ["x/helen_afw68.parquet"], [0.0])[0]["crop"] == "labels"


def evaluate_json(command: str, capsys) -> dict:
    """The JSON figures of an `fkp evaluate ...` command line as the card quotes it."""
    from fkp.evaluate import main

    words = shlex.split(command)
    assert words[:2] == ["fkp", "evaluate"]
    capsys.readouterr()
    main([*words[2:], "--json"])
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def one_torch_thread():
    """Tiny networks run faster on one thread, and far faster when the machine is busy (7 s against 30 s)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_export_evaluates_each_source_frames_and_photos_with_the_commands_it_quotes(
    tmp_path, capsys, monkeypatch, one_torch_thread
):
    from fkp.export import main

    monkeypatch.setattr("fkp.landmarker.onnx_runtime", lambda model: model)  # eager PyTorch: no ONNX export per load

    folder, (ytf, helen) = multi_source_run(tmp_path, with_model=True)
    assert main([str(folder), "--data", "--pipeline", "photo"]) == 0  # the run's sources, as it read them
    card = (folder / "README.md").read_text()
    validation = card.split("## Validation accuracy", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in validation.splitlines() if line.startswith("fkp evaluate")]
    assert commands == [
        f"fkp evaluate --model {folder} --pipeline photo --data {ytf} --split val --label-x-shift -1.3 "
        "--label-correction ytf68 --val-fraction 0.5",
        f"fkp evaluate --model {folder} --pipeline photo --data {helen} --split val --label-x-shift 0 "
        "--val-fraction 0.5",
        f"fkp evaluate --model {folder} --data {ytf} --split val --label-x-shift -1.3 --label-correction ytf68 "
        "--val-fraction 0.5",
        f"fkp evaluate --model {folder} --data {helen} --split val --label-x-shift 0 --val-fraction 0.5",
    ]
    assert validation.index("### Whole photos") < validation.index("### 96x96 frames")  # what a user gets, first
    # each figure is what its quoted command prints
    photos = evaluate_json(commands[0], capsys)
    assert (
        f"| `ytf68` | 4 | {photos['n_missed']} ({photos['missed_share']:.1%}) | {photos['nme']:.4f} | "
        f"{photos['rmse']:.2f} |" in validation
    )
    frames = evaluate_json(commands[3], capsys)
    flipped = evaluate_json(commands[3] + " --flip-test", capsys)
    assert (
        f"| `helen_afw68` | 4 | {frames['rmse']:.3f} | {frames['nme']:.4f} | {flipped['rmse']:.3f} | "
        f"{flipped['nme']:.4f} |" in validation
    )
    assert "| keypoint | `ytf68` RMSE (px) | `ytf68` NME | `helen_afw68` RMSE (px) | `helen_afw68` NME |" in card

    # one source, named: its own shift and correction, the single-source table
    assert main([str(folder), "--data", helen]) == 0
    card = (folder / "README.md").read_text()
    assert (
        f"From `fkp evaluate --model {folder} --data {helen} --split val --label-x-shift 0 --val-fraction 0.5`" in card
    )
    assert "| this model |" in card and "### Whole photos" not in card


def test_export_refuses_the_photo_pipeline_on_frames_and_mismatched_label_arguments(tmp_path):
    from fkp.export import main

    folder, (ytf, helen) = multi_source_run(tmp_path)
    with pytest.raises(FkpError, match="--label-x-shift: give one value, or one per --data source"):
        main([str(folder), "--data", ytf, helen, "--label-x-shift", "1", "2", "3"])
    with pytest.raises(FkpError, match="is not a ytf68-layout folder of photos"):
        main(
            [
                str(folder),
                "--data",
                str(FIXTURES / "frames.parquet"),
                "--label-x-shift",
                "0",
                "--label-correction",
                "none",
                "--pipeline",
                "photo",
            ]
        )
