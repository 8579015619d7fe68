"""Distillation (fkp.distill, train.py --teacher) and the per-source options --source_repeats and --crop."""

import json

import numpy as np
import pytest
import torch
from conftest import FIXTURES, TINY

PARQUET = str(FIXTURES / "frames.parquet")


def frames(count: int = 4) -> torch.Tensor:
    from fkp.data import load_source, to_arrays

    images, _ = to_arrays(load_source(PARQUET))
    return torch.from_numpy(images[:count]).float()[:, None] / 255


def test_teacher_labels_are_the_teachers_mean_flip_test_keypoints(tmp_path):
    from fkp.distill import teacher_keypoints
    from fkp.model import build_model

    torch.manual_seed(0)
    for name, stride in (("a", 2), ("b", 4)):  # teachers of different strides
        build_model("fkp", num_stacks=1, depth=2, channels=16, stride=stride).save_pretrained(tmp_path / name)
    images = (frames(5)[:, 0] * 255).round().to(torch.uint8).numpy()
    tensors = torch.from_numpy(images).float()[:, None] / 255
    from fkp.model import load_model

    alone = [load_model(str(tmp_path / name)).predict(tensors, flip_test=True)[0].numpy() for name in "ab"]
    one = teacher_keypoints([str(tmp_path / "a")], images, batch_size=2)  # batches of 2, 2 and 1
    both = teacher_keypoints([str(tmp_path / "a"), str(tmp_path / "b")], images)
    np.testing.assert_allclose(one, alone[0], atol=1e-3)
    np.testing.assert_allclose(both, (alone[0] + alone[1]) / 2, atol=1e-3)
    assert both.shape == (5, 15, 2) and both.dtype == np.float32
    with pytest.raises(ValueError, match="at least one teacher"):
        teacher_keypoints([], images)


def test_teacher_labels_move_with_each_frames_augmentation():
    from fkp.augment import Augmentation
    from fkp.data import HeatmapDataset
    from fkp.heatmaps import HeatmapCodec

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (3, 96, 96), dtype=np.uint8)
    human = rng.uniform(30, 66, (3, 15, 2)).astype(np.float32)
    human[1, 4] = np.nan  # missing in the human labels: the teachers' label still counts
    teacher = human + 1.0
    teacher[1, 4] = [50.0, 50.0]
    codec = HeatmapCodec(stride=4)
    data = HeatmapDataset(images, human, codec, Augmentation(flip_prob=1.0), seed=3, teacher_keypoints=teacher)
    plain = HeatmapDataset(images, human, codec, Augmentation(flip_prob=1.0), seed=3)
    for index in range(3):
        image, heatmaps, weights, keypoints, soft, soft_weights = data[index]
        image_alone, heatmaps_alone, _, keypoints_alone = plain[index]
        assert torch.equal(image, image_alone) and torch.equal(heatmaps, heatmaps_alone)  # the same draw
        moved, _ = codec.decode(soft.numpy())
        present = np.isfinite(keypoints.numpy()).all(axis=1) & (soft_weights.numpy() > 0)
        # a 1-px shift of every teacher point stays a 1-px shift after a mirror, turn and zoom (0.9-1.1x)
        distance = np.linalg.norm(moved - keypoints.numpy(), axis=1)[present]
        assert np.all((distance > 0.8) & (distance < 1.7)), distance
    assert data[1][2].sum() == 14 * 0.5 and data[1][5].sum() == 15 * 0.5  # human weights, the teachers' (x 0.5 each)
    with pytest.raises(ValueError, match="do not match"):
        HeatmapDataset(images, human, codec, teacher_keypoints=teacher[:2])


def distilled_shift(trained_model, dataset: str, out, *teacher_args: str) -> float:
    """Train a student from ``trained_model`` on ``dataset`` for 3 epochs with ``teacher_args`` (--teacher
    ...) into ``out``; its mean change in y (frame px) from ``trained_model`` on 16 fixture frames."""
    from fkp.model import load_model
    from train import main, parse_args

    main(
        parse_args(
            [
                *("--dataset", dataset, "--output_dir", str(out), "--init_from", str(trained_model), *teacher_args),
                *("--epochs", "3", "--batch_size", "8", "--learning_rate", "3e-3", "--warmup_steps", "1"),
                *("--val_fraction", "0.25", "--average_last", "0"),
            ]
        )
    )
    images = frames(16)
    start, student = load_model(str(trained_model)), load_model(str(out))
    return (student.predict(images)[0] - start.predict(images)[0])[..., 1].mean().item()


@pytest.mark.parametrize("distill_weight", [0.0, 0.5, 1.0])
def test_student_follows_the_teacher_in_proportion_to_distill_weight(trained_model, tmp_path, distill_weight):
    """The teacher is the trained model with calibrated offsets that move its keypoints 6 px down (a
    mirror image keeps that; a shift in x would turn into minus itself); the student starts from the
    same weights without them. With --distill_weight 1 it learns the teacher's placement; with 0 it
    keeps the human labels' (a teacher's offsets apply)."""
    import shutil

    teacher = tmp_path / "teacher"
    shutil.copytree(trained_model, teacher, ignore=shutil.ignore_patterns("checkpoints"))
    config = json.loads((teacher / "config.json").read_text())
    config["keypoint_offsets"] = config["flip_keypoint_offsets"] = [[0.0, -6.0]] * 15
    (teacher / "config.json").write_text(json.dumps(config))
    out = tmp_path / "student"
    shift = distilled_shift(
        trained_model, PARQUET, out, "--teacher", str(teacher), "--distill_weight", str(distill_weight)
    )
    low, high = {0.0: (-1.5, 1.5), 0.5: (1.5, 4.5), 1.0: (4.0, 7.5)}[distill_weight]
    assert low < shift < high, shift
    args = json.loads((out / "training_args.json").read_text())
    assert args["teacher"] == [str(teacher)] and args["distill_weight"] == [distill_weight]


def test_repeated_rows():
    from fkp.train import repeated_rows

    assert repeated_rows([3, 2, 4], [1, 2, 3]).tolist() == [0, 1, 2, 3, 4, 3, 4] + [5, 6, 7, 8] * 3
    assert repeated_rows([2, 0], [2, 5]).tolist() == [0, 1, 0, 1]
    assert repeated_rows([], []).tolist() == []


def test_a_label_x_shift_for_a_source_it_does_not_apply_to_is_named_and_left_out(caplog):
    from fkp.data import load_source, to_arrays

    _, plain = to_arrays(load_source(PARQUET))
    with caplog.at_level("WARNING"):
        _, shifted = to_arrays(load_source(PARQUET, label_x_shift=6))
    np.testing.assert_array_equal(shifted, plain)
    assert "frames.parquet: the label x shift (6 px) applies to ytf68-layout folders only" in caplog.text
    from fkp.errors import DataError

    with pytest.raises(DataError, match="no such file or folder"):  # a mistyped path is named as such
        load_source("../no/ytf86", label_x_shift=-1.3)


def test_source_repeats_show_a_source_more_often(tmp_path):
    from fkp.run_folder import checkpoint_info, checkpoints
    from train import main, parse_args

    steps = {}
    for repeats in ("1", "3"):
        out = tmp_path / repeats
        main(
            parse_args(
                [
                    *("--dataset", PARQUET, "--output_dir", str(out), *TINY, "--source_repeats", repeats),
                    *("--epochs", "1", "--batch_size", "4", "--val_fraction", "0.25", "--average_last", "0"),
                ]
            )
        )
        steps[repeats] = max(checkpoint_info(path)["global_step"] for path in checkpoints(out / "checkpoints"))
    assert steps["3"] == pytest.approx(3 * steps["1"], rel=0.05)  # up to the last, partial batches


def record_training_sets(tmp_path, monkeypatch) -> list:
    """Two copies of the ytf68 fixture, tmp_path/a and tmp_path/b; the list returned fills with every
    HeatmapDataset train.py builds (training set first, then validation)."""
    import shutil

    import fkp.train
    from fkp.data import HeatmapDataset

    for name in ("a", "b"):
        shutil.copytree(FIXTURES / "ytf68", tmp_path / name)
    made = []

    def recorded(*args, **kwargs):
        made.append(HeatmapDataset(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(fkp.train, "HeatmapDataset", recorded)
    return made


def test_teachers_with_repeated_sources_and_a_weight_per_source(trained_model, tmp_path, monkeypatch):
    """Two sources, the second shown twice an epoch, both labelled by a teacher with a distill weight
    each: every row (and its repeats) carries its own teacher label and its own source's weight."""
    from fkp.data import load_source, split_dataset
    from train import main, parse_args

    made = record_training_sets(tmp_path, monkeypatch)
    summary = main(
        parse_args(
            [
                *("--dataset", str(tmp_path / "a"), str(tmp_path / "b"), "--source_repeats", "1", "2"),
                *("--teacher", str(trained_model), "--distill_weight", "0.2", "0.7"),
                *("--output_dir", str(tmp_path / "run"), *TINY),
                *("--epochs", "1", "--batch_size", "4", "--val_fraction", "0.25", "--average_last", "0"),
            ]
        )
    )
    assert summary["history"][0]["train_loss"] > 0
    rows = len(split_dataset(load_source(str(tmp_path / "a")), 0.25)[0])
    train_data = made[0]
    assert np.allclose(train_data.teacher_share, [0.2] * rows + [0.7] * 2 * rows)
    assert len(train_data.teacher_keypoints) == 3 * rows
    item = train_data[0]  # a first-source frame: human weights 0.8, the teachers' 0.2 (where present)
    assert set(np.unique(item[2].numpy())) <= {0.0, np.float32(0.8)} and item[2].max() == np.float32(0.8)
    assert item[5].max() == np.float32(0.2)
    card = (tmp_path / "run" / "README.md").read_text()
    assert "weight 0.2 on `a`, 0.7 on `b`" in card


def test_a_teacher_share_splits_each_frames_loss():
    """The human and teacher weights of a frame are scaled by 1 - share and share, so the sum of the two
    heatmap losses is (1 - w) * human loss + w * teacher loss."""
    from fkp.data import HeatmapDataset
    from fkp.heatmaps import HeatmapCodec
    from fkp.train import heatmap_loss

    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (2, 96, 96), dtype=np.uint8)
    human = rng.uniform(30, 66, (2, 15, 2)).astype(np.float32)
    teacher = human + rng.normal(0, 2, human.shape).astype(np.float32)
    codec = HeatmapCodec(stride=4)
    share = np.array([0.0, 0.75])
    data = HeatmapDataset(images, human, codec, teacher_keypoints=teacher, teacher_share=share)
    plain, teachers = HeatmapDataset(images, human, codec), HeatmapDataset(images, teacher, codec)
    outputs = torch.rand(1, 2, 15, codec.heatmap_size, codec.heatmap_size)  # (B, S, K, H, W)
    for index, w in enumerate(share):
        _, heatmaps, weights, _, soft, soft_weights = data[index]
        split = heatmap_loss(outputs, heatmaps[None], weights[None]) + heatmap_loss(
            outputs, soft[None], soft_weights[None]
        )
        expected = (1 - w) * heatmap_loss(outputs, plain[index][1][None], plain[index][2][None]) + w * heatmap_loss(
            outputs, teachers[index][1][None], teachers[index][2][None]
        )
        assert split.item() == pytest.approx(expected.item(), rel=1e-5)
    default = HeatmapDataset(images, human, codec, teacher_keypoints=teacher)  # one weight: 0.5
    assert np.array_equal(default.teacher_share, [0.5, 0.5])
    with pytest.raises(ValueError, match="teacher_share"):
        HeatmapDataset(images, human, codec, teacher_keypoints=teacher, teacher_share=[0.5, 1.5])


def test_a_resumed_run_learns_from_the_teacher_labels_it_started_with(trained_model, tmp_path, monkeypatch):
    """The labels are kept in the run folder; a resume reads them back and does not ask the teachers
    again, even though the teacher folder has changed since (its offsets moved every point)."""
    import shutil

    import fkp.train
    from fkp.data import load_source, split_dataset, to_arrays
    from fkp.distill import TEACHER_LABELS, teacher_keypoints
    from fkp.run_folder import remove_run
    from train import main, parse_args

    teacher = tmp_path / "teacher"
    shutil.copytree(trained_model, teacher, ignore=shutil.ignore_patterns("checkpoints"))
    run = tmp_path / "run"
    arguments = [
        *("--dataset", PARQUET, "--teacher", str(teacher), "--output_dir", str(run), *TINY),
        *("--batch_size", "8", "--val_fraction", "0.25", "--average_last", "0"),
        *("--resume_from_checkpoint", "latest"),
    ]
    main(parse_args([*arguments, "--epochs", "1"]))
    stored = np.load(run / TEACHER_LABELS)
    train_images, _ = to_arrays(split_dataset(load_source(PARQUET), 0.25)[0])
    assert np.allclose(stored, teacher_keypoints([str(teacher)], train_images), atol=1e-4)

    config = json.loads((teacher / "config.json").read_text())
    config["keypoint_offsets"] = config["flip_keypoint_offsets"] = [[0.0, -6.0]] * 15
    (teacher / "config.json").write_text(json.dumps(config))

    def asked(*args, **kwargs):
        raise AssertionError("a resumed run asked the teachers again")

    monkeypatch.setattr(fkp.train, "teacher_keypoints", asked)
    summary = main(parse_args([*arguments, "--epochs", "2"]))
    assert len(summary["history"]) == 2
    assert np.array_equal(np.load(run / TEACHER_LABELS), stored)
    assert TEACHER_LABELS in remove_run(run)  # --overwrite_output_dir removes them with the run


def test_each_source_is_cropped_as_asked(tmp_path, monkeypatch):
    """--crop labels detector: the first source's frames cut where its labels imply, the second's
    where the detector puts each face, in training and in the validation figures alike."""
    from fkp.data import load_source, split_dataset, to_arrays
    from train import main, parse_args

    made = record_training_sets(tmp_path, monkeypatch)
    run = tmp_path / "run"
    main(
        parse_args(
            [
                *("--dataset", str(tmp_path / "a"), str(tmp_path / "b"), "--crop", "labels", "detector"),
                *("--output_dir", str(run), *TINY, "--epochs", "1", "--batch_size", "4"),
                *("--val_fraction", "0.25", "--average_last", "0"),
            ]
        )
    )

    def sides(crop: str) -> list[np.ndarray]:  # training and validation images of one crop
        return [to_arrays(side)[0] for side in split_dataset(load_source(str(tmp_path / "a"), crop=crop), 0.25)]

    (train_a, _), (train_b, val_b) = sides("labels"), sides("detector")
    assert not np.array_equal(train_a, train_b)  # the two crops differ
    assert np.array_equal(made[0].images, np.concatenate([train_a, train_b]))
    assert np.array_equal(made[1].images[-len(val_b) :], val_b)
    # the run names the detector it cropped with, so later tools cut the same frames
    assert json.loads((run / "training_args.json").read_text())["crop"] == ["labels", "detector:blazeface_full"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--crop", "labels", "detector"], "one per --dataset"),
        (["--crop", "box"], "invalid crop 'box': choose 'labels', 'detector' or 'detector:NAME'"),
        (["--crop", "detector:"], "invalid crop 'detector:'"),
        (["--source_repeats", "0"], "1 or more"),
        (["--source_repeats", "1", "2"], "one per --dataset"),
        (["--teacher", "x", "--distill_weight", "1.5"], "between 0 and 1"),
        (["--teacher", "x", "--distill_weight", "0.5", "0.5"], "one per --dataset"),
    ],
)
def test_distillation_and_repeat_arguments_are_checked(arguments, message, capsys):
    from train import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--dataset", PARQUET, "--output_dir", "x", *arguments])
    assert message in capsys.readouterr().err


def test_a_missing_teacher_is_named(tmp_path):
    from fkp.errors import FkpError
    from train import main, parse_args

    with pytest.raises((FkpError, OSError, ValueError), match="no-such-teacher"):
        main(
            parse_args(
                [
                    *("--dataset", PARQUET, "--output_dir", str(tmp_path / "run"), *TINY),
                    *("--teacher", str(tmp_path / "no-such-teacher"), "--epochs", "1"),
                ]
            )
        )
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_a_distilled_run_stopped_before_its_first_checkpoint_can_be_run_again(tmp_path):
    """Its folder holds only logs and the teacher labels (perhaps a half-written one): a rerun with
    --resume_from_checkpoint latest starts afresh (the teachers label the frames again) instead of
    refusing a folder that holds 'other files'."""
    from fkp.run_folder import plan_run, remove_partial_saves, run_identity
    from fkp.training_args import parse_args

    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    np.save(run / "teacher_keypoints.npy", np.zeros((4, 15, 2), np.float32))
    (run / "teacher_keypoints.npy.tmp").write_bytes(b"half")
    args = parse_args(
        ["--dataset", PARQUET, "--teacher", "t", "--output_dir", str(run), "--resume_from_checkpoint", "latest"]
    )
    assert plan_run(args, run_identity(vars(args), 1)) == (None, None)
    remove_partial_saves(run)
    assert not (run / "teacher_keypoints.npy.tmp").exists()
    (run / "notes.txt").write_text("someone else's")  # anything else is still refused
    resume, refusal = plan_run(args, run_identity(vars(args), 1))
    assert resume is None and "holds other files" in refusal


def test_a_finer_teachers_heatmaps_resampled_to_the_students_grid_decode_to_the_same_points():
    """Stride-2 maps pooled to stride 4 and widened back to sigma 1.5 are the stride-4 encoding of the
    same points: same decoded keypoints, the teacher's peak height kept; a coarser teacher is refused."""
    from fkp.distill import resample_heatmaps
    from fkp.heatmaps import HeatmapCodec

    fine, coarse = HeatmapCodec(stride=2, sigma=1.5), HeatmapCodec(stride=4, sigma=1.5)
    points = np.random.default_rng(0).uniform(8, 88, (15, 2)).astype(np.float32)
    teacher_maps = torch.from_numpy(fine.encode(points)[0])[None] * 0.7  # a teacher 0.7 sure of each point
    resampled = resample_heatmaps(teacher_maps, fine, coarse)
    assert resampled.shape == (1, 15, 24, 24)
    decoded, _ = coarse.decode(resampled)
    np.testing.assert_allclose(decoded[0].numpy(), points, atol=0.02)
    np.testing.assert_allclose(resampled.amax(dim=(-2, -1)).numpy(), teacher_maps.amax(dim=(-2, -1)).numpy(), rtol=1e-5)
    direct = coarse.encode(points)[0] * 0.7
    assert np.abs(resampled[0].numpy() - direct).max() < 0.05  # the widened pooled peak is the student's Gaussian
    same = torch.from_numpy(direct)[None]
    torch.testing.assert_close(resample_heatmaps(same, coarse, coarse), same)  # one grid: unchanged
    with pytest.raises(ValueError, match="stride that divides the student's"):
        resample_heatmaps(same, coarse, fine)


def test_a_heatmap_teacher_is_asked_only_about_the_frames_that_weigh(trained_model):
    """Frames whose --distill_weight is 0 (train.py passes asked=share > 0) are not run through the
    teachers: they get all-zero maps and no trust; the others get what they would get alone."""
    from fkp.distill import HeatmapTeacher
    from fkp.model import load_model

    model = load_model(str(trained_model))
    images = frames(4)
    teacher = HeatmapTeacher([str(trained_model)], model.codec)
    seen = []
    forward, codec = teacher.members[0]
    teacher.members[0] = (lambda batch: seen.append(len(batch)) or forward(batch), codec)
    asked = torch.tensor([True, False, True, False])
    maps, trusted = teacher(images, asked=asked)
    alone, alone_trusted = teacher(images[asked])
    assert seen == [2, 2]  # two frames each time: the unasked ones never reached the network
    torch.testing.assert_close(maps[asked], alone)
    assert torch.equal(trusted[asked], alone_trusted) and alone_trusted.any()
    assert not maps[~asked].any() and not trusted[~asked].any()
    none, none_trusted = teacher(images, asked=torch.zeros(4, dtype=torch.bool))
    assert seen == [2, 2] and none.shape == maps.shape and not none.any() and not none_trusted.any()
    assert torch.equal(teacher(images, asked=torch.ones(4, dtype=torch.bool))[0], teacher(images)[0])


def test_a_heatmap_teacher_gives_its_own_last_stack_on_the_students_grid(trained_model, tmp_path):
    import shutil

    from fkp.distill import HeatmapTeacher
    from fkp.errors import FkpError
    from fkp.model import build_model, load_model
    from fkp.quantize import main as quantize_main

    model = load_model(str(trained_model))
    images = frames(3)
    teacher = HeatmapTeacher([str(trained_model)], model.codec)
    assert teacher.engines == ["PyTorch"]  # this folder has no int8 copy
    with torch.no_grad():
        expected = model(images)[:, -1].clamp_min(0)
    maps, trusted = teacher(images)
    torch.testing.assert_close(maps, expected, atol=1e-5, rtol=1e-4)
    assert trusted.all()  # one grid, no blur: every point is used
    pair = HeatmapTeacher([str(trained_model), str(trained_model)], model.codec)
    torch.testing.assert_close(pair(images)[0], expected, atol=1e-5, rtol=1e-4)  # the mean of two equal teachers

    quantized = tmp_path / "int8"  # a folder with a current int8 copy runs it on the CPU
    shutil.copytree(trained_model, quantized, ignore=shutil.ignore_patterns("checkpoints"))
    assert quantize_main(["--model", str(quantized), "--frames", "16"]) == 0
    int8 = HeatmapTeacher([str(quantized)], model.codec)
    assert int8.engines == ["int8 ONNX Runtime"]
    from fkp.runtime import int8_runtime

    own_int8 = int8_runtime(str(quantized / "model.int8.onnx"), 0)(images)[:, -1].clamp_min(0)
    torch.testing.assert_close(int8(images)[0], own_int8)

    with pytest.raises(ValueError, match="at least one teacher"):
        HeatmapTeacher([], model.codec)
    coarse = tmp_path / "coarse"
    build_model("fkp", num_stacks=1, depth=2, channels=16, stride=4).save_pretrained(coarse)
    fine_student = build_model("fkp", num_stacks=1, depth=2, channels=16, stride=2).codec
    with pytest.raises(FkpError, match=f"--teacher {coarse}: .*stride 4.*stride 2.*teacher_targets keypoints"):
        HeatmapTeacher([str(coarse)], fine_student)


def test_a_heatmap_teacher_leaves_out_points_its_resampling_would_move():
    """A fine teacher's peak near the frame's border, pooled and widened, drifts inwards (zero padding):
    such points get no teacher weight; points inside keep theirs."""
    from fkp.distill import HeatmapTeacher, resample_heatmaps, widening
    from fkp.heatmaps import HeatmapCodec

    fine, coarse = HeatmapCodec(stride=2, sigma=1.5), HeatmapCodec(stride=4, sigma=1.5)
    points = np.full((15, 2), 48.0, np.float32)
    points[0], points[1] = [2.0, 48.0], [48.0, 94.0]  # 2 px from the left, 1.5 px from the bottom
    teacher_maps = torch.from_numpy(fine.encode(points)[0])[None]
    decoded = coarse.decode(resample_heatmaps(teacher_maps, fine, coarse))[0][0]
    assert (decoded[:2] - torch.from_numpy(points[:2])).abs().max() > 0.5  # what is left out, and why
    teacher = HeatmapTeacher.__new__(HeatmapTeacher)  # the teacher's network replaced by these maps
    teacher.student, teacher.margin = coarse, widening(fine, coarse)  # 1.27 cells
    teacher.members = [(lambda images: teacher_maps[:, None], fine)]
    _, trusted = teacher(torch.zeros(1, 1, 96, 96))
    assert trusted[0].tolist() == [False, False] + [True] * 13


@pytest.mark.parametrize("distill_weight", [0.0, 0.5])
def test_with_heatmap_targets_the_student_follows_the_teachers_maps_in_proportion_to_distill_weight(
    trained_model, tmp_path, distill_weight
):
    """The human labels sit 6 px lower than where the trained model puts the points; the student
    starts from that model, which is also its teacher, asked about every augmented batch. With
    --distill_weight 0 it moves all the way to the labels (6.6 px, measured: the share is not turned
    round); with 0.5 half way (3.2 px: without the teacher's term it would move all the way, with the
    share applied twice about 4.4)."""
    from fkp.data import load_source

    lower = tmp_path / "lower.parquet"
    moved = load_source(PARQUET).map(lambda row: {"keypoints": (np.asarray(row["keypoints"]) + [0.0, 6.0]).tolist()})
    moved.to_parquet(str(lower))
    out = tmp_path / "student"
    teacher = ("--teacher", str(trained_model), "--teacher_targets", "heatmaps")
    shift = distilled_shift(trained_model, str(lower), out, *teacher, "--distill_weight", str(distill_weight))
    low, high = {0.0: (5.0, 7.5), 0.5: (2.2, 4.0)}[distill_weight]
    assert low < shift < high, shift
    args = json.loads((out / "training_args.json").read_text())
    assert args["teacher_targets"] == "heatmaps" and args["distill_weight"] == [distill_weight]
    assert args["teacher_engines"] == ["PyTorch"]  # the trained model's folder has no int8 copy
    card = (out / "README.md").read_text()
    assert "--teacher_targets heatmaps" in card and f"The teachers ran in PyTorch (`{trained_model}`)." in card
    assert not (out / "teacher_keypoints.npy").exists()  # nothing labelled before training


def test_heatmap_targets_need_a_teacher():
    from train import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--dataset", PARQUET, "--output_dir", "x", "--teacher_targets", "heatmaps"])
