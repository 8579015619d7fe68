import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, ROOT, SHARED
from PIL import Image

from fkp.data import (
    DataError,
    features,
    load_source,
    read_kaggle_labels,
    read_landmarks,
    split_dataset,
    to_arrays,
    ytf68_tables,
)
from fkp.framing import LANDMARK_FRAMING, fit_framing
from fkp.keypoints import KAGGLE_COLUMNS, KEYPOINT_INDEX, ibug68_to_kaggle

KAGGLE = FIXTURES / "kaggle"


def check_schema(dataset, rows):
    assert dataset.features == features() and len(dataset) == rows
    images, keypoints = to_arrays(dataset)
    assert images.shape == (rows, 96, 96) and images.dtype == np.uint8
    assert keypoints.shape == (rows, 15, 2)
    return images, keypoints


def test_kaggle_training_csv_and_zip_load_identically():
    table = pd.read_csv(KAGGLE / "training.csv")
    images, keypoints = check_schema(load_source(KAGGLE / "training.csv"), len(table))
    zipped_images, zipped_keypoints = check_schema(load_source(KAGGLE / "training.zip"), len(table))
    assert np.array_equal(images, zipped_images)
    assert np.array_equal(keypoints, zipped_keypoints, equal_nan=True)
    # values and blanks exactly as in the CSV
    assert np.allclose(keypoints.reshape(len(table), -1), table[list(KAGGLE_COLUMNS)].to_numpy(), equal_nan=True)
    assert np.isnan(keypoints[2, KEYPOINT_INDEX["mouth_left_corner"]]).all()
    assert np.array_equal(images[0].ravel(), np.array(table.Image[0].split(), dtype=np.uint8))


def test_kaggle_test_csv_has_ids_and_no_labels():
    dataset = load_source(KAGGLE / "test.csv")
    _, keypoints = check_schema(dataset, 4)
    assert dataset["id"] == ["1", "2", "3", "4"] and np.isnan(keypoints).all()


def test_parquet_and_save_to_disk_round_trip(tmp_path):
    source = load_source(KAGGLE / "training.csv")
    out = tmp_path / "converted.parquet"
    subprocess.run(
        [sys.executable, "-m", "fkp.data", "convert", str(KAGGLE / "training.csv"), str(out)], check=True, cwd=ROOT
    )
    from_parquet = load_source(out)
    source.save_to_disk(str(tmp_path / "disk"))
    from_disk = load_source(tmp_path / "disk")
    for dataset in (from_parquet, from_disk):
        images, keypoints = check_schema(dataset, len(source))
        assert np.array_equal(images, to_arrays(source)[0])
        assert np.array_equal(keypoints, to_arrays(source)[1], equal_nan=True)


def fake_hub_cache(cache, repo="someone/fkp-faces"):
    folder = cache / f"datasets--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0123abcd")
    snapshot = folder / "snapshots" / "0123abcd" / "data"
    snapshot.mkdir(parents=True)
    shutil.copy(FIXTURES / "frames.parquet", snapshot / "train-00000-of-00001.parquet")


@pytest.mark.parametrize("offline", ["1", "0"])
def test_hub_dataset_from_local_cache_and_clear_error_when_absent(tmp_path, offline):
    fake_hub_cache(tmp_path)
    code = (
        "from fkp.data import load_source, DataError\n"
        "print('rows', len(load_source('someone/fkp-faces')))\n"
        "try:\n    load_source('someone/never-downloaded')\n"
        "except DataError as e:\n    print('error', e)\n"
    )
    env = {
        **os.environ,
        "HF_HUB_CACHE": str(tmp_path),
        "HF_HUB_OFFLINE": offline,
        "HF_DATASETS_OFFLINE": offline,
        "HF_HOME": str(tmp_path / "home"),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert f"rows {len(pd.read_parquet(FIXTURES / 'frames.parquet'))}" in result.stdout
    assert "error Hub dataset 'someone/never-downloaded' is not in the local cache" in result.stdout


def test_ytf68_layout_folder_any_name(ytf_copy):
    dataset = load_source(ytf_copy)
    images, keypoints = check_schema(dataset, 8)
    assert len(set(dataset["person"])) == 4 and all(p and not p[-1].isdigit() for p in dataset["person"])
    assert np.isfinite(keypoints).all() and (keypoints > 0).all() and (keypoints < 96).all()
    # the same layout under other names loads the same way, also given the CSV itself
    renamed = ytf_copy.parent / "other"
    renamed.mkdir()
    shutil.copytree(ytf_copy / "mini", renamed / "faces")
    shutil.copy(ytf_copy / "mini_frames_keypoints.csv", renamed / "faces_frames_keypoints.csv")
    assert np.array_equal(to_arrays(load_source(renamed))[1], keypoints)
    assert np.array_equal(to_arrays(load_source(renamed / "faces_frames_keypoints.csv"))[0], images)


def test_ibug68_mapping():
    landmarks = np.random.default_rng(0).uniform(0, 100, size=(68, 2))
    points = ibug68_to_kaggle(landmarks)
    assert np.allclose(points[KEYPOINT_INDEX["left_eye_center"]], landmarks[42:48].mean(0))
    assert np.allclose(points[KEYPOINT_INDEX["right_eye_center"]], landmarks[36:42].mean(0))
    assert np.allclose(points[KEYPOINT_INDEX["nose_tip"]], landmarks[30])
    assert np.allclose(points[KEYPOINT_INDEX["mouth_left_corner"]], landmarks[54])  # subject's left
    assert np.allclose(points[KEYPOINT_INDEX["right_eyebrow_outer_end"]], landmarks[17])


def test_converted_faces_look_like_kaggle_frames(ytf_copy):
    _, keypoints = to_arrays(load_source(ytf_copy))
    kaggle_means = read_kaggle_labels(KAGGLE / "training.csv")  # real layout; values here come from real faces
    left, right = KEYPOINT_INDEX["left_eye_center"], KEYPOINT_INDEX["right_eye_center"]
    assert (keypoints[:, left, 0] > keypoints[:, right, 0]).all()
    assert np.abs(np.nanmean(keypoints, 0) - np.nanmean(kaggle_means, 0)).mean() < 5


@pytest.mark.skipif(not (SHARED / "kaggle").exists(), reason="needs ../shared/data (present in CI)")
def test_framing_constants_are_the_calibrated_ones():
    kaggle = read_kaggle_labels(SHARED / "kaggle" / "training_keypoints.csv")
    landmarks = np.concatenate([read_landmarks(csv) for csv, _ in ytf68_tables(SHARED / "ytf68")])
    fitted = fit_framing(landmarks, np.nanmean(kaggle, axis=0))
    assert np.allclose(
        [fitted.offset_x, fitted.offset_y, fitted.scale],
        [LANDMARK_FRAMING.offset_x, LANDMARK_FRAMING.offset_y, LANDMARK_FRAMING.scale],
        atol=1e-3,
    )


def test_person_split_is_disjoint_and_deterministic():
    dataset = load_source(FIXTURES / "frames.parquet")
    train, val = split_dataset(dataset, 0.25)
    assert len(train) + len(val) == len(dataset) and len(val) > 0
    assert not set(train["person"]) & set(val["person"])
    again_train, _ = split_dataset(dataset, 0.25)
    assert train["id"] == again_train["id"]
    kaggle_train, kaggle_val = split_dataset(load_source(KAGGLE / "training.csv"), 0.3)
    assert not set(kaggle_train["id"]) & set(kaggle_val["id"]) and len(kaggle_val) > 0
    assert kaggle_val["id"] == split_dataset(load_source(KAGGLE / "training.csv"), 0.3)[1]["id"]


# --- bad input -------------------------------------------------------------------------------


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def kaggle_lines():
    return (KAGGLE / "training.csv").read_text().splitlines()


def test_wrong_pixel_count_names_file_line_and_field(tmp_path):
    lines = kaggle_lines()
    lines[3] = lines[3].rsplit(" ", 5)[0]  # drop 5 pixels from data row 2 (line 4)
    path = write_lines(tmp_path / "training.csv", lines)
    with pytest.raises(
        DataError, match=r"training.csv: line 4 \(row 2\), field 'Image': 9211 pixel values, expected 9216"
    ):
        load_source(path)


def test_non_numeric_values_name_the_field(tmp_path):
    lines = kaggle_lines()
    lines[1] = "abc" + lines[1][lines[1].index(",") :]
    with pytest.raises(DataError, match=r"line 2 \(row 0\), field 'left_eye_center_x': 'abc' is not a number"):
        load_source(write_lines(tmp_path / "training.csv", lines))
    lines = kaggle_lines()
    lines[2] = lines[2].replace(" 27 ", " x7 ", 1) if " 27 " in lines[2] else lines[2][:-4] + " x7"
    with pytest.raises(DataError, match=r"line 3 \(row 1\), field 'Image'"):
        load_source(write_lines(tmp_path / "training.csv", lines))


def test_bad_rows_can_be_skipped_and_counted(tmp_path, caplog):
    lines = kaggle_lines()
    lines[3] = lines[3].rsplit(" ", 1)[0]
    path = write_lines(tmp_path / "training.csv", lines)
    result = subprocess.run(
        [sys.executable, "-m", "fkp.data", "convert", str(path), str(tmp_path / "out.parquet"), "--skip-bad-rows"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "skipped 1 bad row(s)" in result.stderr and "wrote 11 rows" in result.stdout


def test_missing_columns_are_listed(tmp_path):
    table = pd.read_csv(KAGGLE / "training.csv").drop(columns=["nose_tip_y", "Image"])
    table.to_csv(tmp_path / "training.csv", index=False)
    with pytest.raises(DataError, match=r"missing column\(s\) nose_tip_y, Image"):
        load_source(tmp_path / "training.csv")


def test_zip_without_csv_and_unknown_paths(tmp_path):
    with zipfile.ZipFile(tmp_path / "training.zip", "w") as archive:
        archive.writestr("readme.txt", "no data")
    with pytest.raises(DataError, match="exactly one .csv inside the zip"):
        load_source(tmp_path / "training.zip")
    with pytest.raises(DataError, match="no such file"):
        load_source(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="not fkp's schema"):
        pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "other.parquet")
        load_source(tmp_path / "other.parquet")


def test_detector_crop_cuts_frames_where_the_photo_pipeline_would(ytf_copy):
    from fkp.data import read_ytf68, read_ytf68_photos, ytf68_frame
    from fkp.detect import DEFAULT_DETECTOR, create_detector
    from fkp.geometry import apply_affine

    detector = create_detector(DEFAULT_DETECTOR)
    by_labels = list(read_ytf68(ytf_copy))
    by_detector = list(read_ytf68(ytf_copy, crop="detector"))
    assert [row["id"] for row in by_detector] == [row["id"] for row in by_labels]
    moved = 0
    for (_, _, photo, landmarks), labelled, detected in zip(read_ytf68_photos(ytf_copy), by_labels, by_detector):
        boxes = detector.detect(photo)
        matrix = detector.crop(boxes[0])  # one face per fixture photo, found by the detector
        assert np.allclose(detected["keypoints"], apply_affine(matrix, ibug68_to_kaggle(landmarks)), atol=1e-3)
        gray = np.asarray(Image.fromarray(photo).convert("L"))
        assert np.array_equal(detected["image"], ytf68_frame(gray, landmarks, matrix=matrix)[0])
        moved += np.abs(detected["keypoints"] - labelled["keypoints"]).max() > 0.5
    assert moved == len(by_labels)  # the detector does not frame faces exactly as their labels do
    # "detector" is the default detector, by name too; another name, another detector's frames
    named = list(read_ytf68(ytf_copy, crop=f"detector:{DEFAULT_DETECTOR}"))
    assert all(np.array_equal(a["image"], b["image"]) for a, b in zip(named, by_detector))
    short_range = list(read_ytf68(ytf_copy, crop="detector:blazeface"))
    assert any(not np.array_equal(a["image"], b["image"]) for a, b in zip(short_range, by_detector))


def test_a_detector_crop_falls_back_to_the_labels_where_it_cannot_serve():
    from fkp.data.ytf68 import detector_crop
    from fkp.detect import Box, FaceDetector
    from fkp.geometry import crop_matrix

    class OneBox(FaceDetector):  # one detection with a fixed crop
        def __init__(self, boxes, side):
            self.boxes, self.side = boxes, side

        def detect(self, photo):
            return self.boxes

        def crop(self, box):
            return crop_matrix(np.array([50.0, 50.0]), self.side)

    landmarks = np.stack([np.linspace(30, 70, 68), np.linspace(35, 75, 68)], axis=1)
    photo = np.zeros((100, 100, 3), np.uint8)
    found = [Box(20, 20, 60, 60, 0.9)]
    assert detector_crop(OneBox(found, 80.0), photo, landmarks) is not None
    assert detector_crop(OneBox([], 80.0), photo, landmarks) is None  # no detection
    assert detector_crop(OneBox([Box(80, 80, 10, 10, 0.9)], 80.0), photo, landmarks) is None  # another face
    assert detector_crop(OneBox(found, 30.0), photo, landmarks) is None  # keypoints outside its crop


def test_a_crop_is_checked_and_only_for_photo_folders(ytf_copy):
    with pytest.raises(DataError, match="unknown crop 'box'; choose 'labels', 'detector' or 'detector:NAME'"):
        load_source(ytf_copy, crop="box")
    with pytest.raises(DataError, match="unknown face detector 'yolo' in crop 'detector:yolo'; choose from blazeface"):
        load_source(ytf_copy, crop="detector:yolo")
    with pytest.raises(DataError, match="frames.parquet: --crop detector applies to ytf68-layout folders only"):
        load_source(FIXTURES / "frames.parquet", crop="detector")


def test_unreadable_photo_names_file_and_row(ytf_copy):
    victim = sorted((ytf_copy / "mini").iterdir())[0]
    victim.write_bytes(b"not an image")
    csv = (ytf_copy / "mini_frames_keypoints.csv").read_text().splitlines()
    row = next(i for i, line in enumerate(csv) if line.startswith(victim.name))
    with pytest.raises(DataError, match=rf"line {row + 1} \(row {row - 1}\).*cannot read image .*{victim.name}"):
        load_source(ytf_copy)
    from fkp.data import read_ytf68

    assert len(list(read_ytf68(ytf_copy, on_error="skip"))) == 7
