"""Regenerate the small test fixtures from the real faces in ../shared/data (run from the repo root):

    python tests/make_fixtures.py ../shared/data

Writes tests/fixtures/: kaggle/{training.csv, training.zip, test.csv, IdLookupTable.csv} in Kaggle's
exact layout, ytf68/ (mini_frames_keypoints.csv + mini/ photos) and frames.parquet (fkp's schema).
"""

import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fkp.data import load_source, person_of
from fkp.keypoints import KAGGLE_COLUMNS

OUT = Path(__file__).parent / "fixtures"


def main(shared: Path) -> None:
    ytf = shared / "ytf68"
    table = pd.read_csv(ytf / "training_frames_keypoints.csv")
    table = table.assign(person=table.iloc[:, 0].map(person_of))
    people = sorted(table.person.unique())
    rng = np.random.default_rng(0)
    chosen = rng.choice(people, 20, replace=False)
    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "kaggle").mkdir(parents=True)

    # ytf68 layout: 4 people x 2 frames; half kept as the original PNG-in-.jpg, half re-saved as real JPEG
    mini = table[table.person.isin(chosen[:4])].groupby("person").head(2)
    (OUT / "ytf68" / "mini").mkdir(parents=True)
    for i, name in enumerate(mini.iloc[:, 0]):
        if i % 2:
            shutil.copy(ytf / "training" / name, OUT / "ytf68" / "mini" / name)
        else:
            Image.open(ytf / "training" / name).convert("RGB").save(OUT / "ytf68" / "mini" / name, "JPEG", quality=90)
    mini.drop(columns="person").to_csv(OUT / "ytf68" / "mini_frames_keypoints.csv", index=False)

    # 96x96 frames of 16 people (fkp's schema) for training/evaluation tests
    with tempfile.TemporaryDirectory() as tmp:
        subset = table[table.person.isin(chosen[4:])]
        subset.drop(columns="person").to_csv(Path(tmp) / "frames_frames_keypoints.csv", index=False)
        (Path(tmp) / "frames").mkdir()
        for name in subset.iloc[:, 0]:
            shutil.copy(ytf / "training" / name, Path(tmp) / "frames" / name)
        frames = load_source(tmp)
    frames.to_parquet(OUT / "frames.parquet")

    # Kaggle's layout, from 12 of those frames: 30 columns (blanks as in Kaggle's partial rows) + Image
    images = np.stack([np.asarray(im) for im in frames.select(range(16))["image"]])
    keypoints = np.asarray(frames.select(range(16)).with_format("numpy")["keypoints"]).reshape(16, -1)
    rows = []
    for i in range(12):
        values = [f"{v:.10g}" for v in keypoints[i]]
        if i % 3 == 2:  # like most Kaggle rows: only eye centres, nose tip and bottom lip labelled
            keep = {"left_eye_center", "right_eye_center", "nose_tip", "mouth_center_bottom_lip"}
            values = [v if c.rsplit("_", 1)[0] in keep else "" for v, c in zip(values, KAGGLE_COLUMNS)]
        rows.append(dict(zip(KAGGLE_COLUMNS, values), Image=" ".join(map(str, images[i].ravel()))))
    pd.DataFrame(rows).to_csv(OUT / "kaggle" / "training.csv", index=False)
    with zipfile.ZipFile(OUT / "kaggle" / "training.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(OUT / "kaggle" / "training.csv", "training.csv")
    test = pd.DataFrame(
        {"ImageId": range(1, 5), "Image": [" ".join(map(str, images[12 + i].ravel())) for i in range(4)]}
    )
    test.to_csv(OUT / "kaggle" / "test.csv", index=False)
    lookup = pd.read_csv(shared / "kaggle" / "IdLookupTable.csv")
    lookup = lookup[lookup.ImageId <= 4].copy()
    lookup["RowId"] = range(1, len(lookup) + 1)
    lookup.to_csv(OUT / "kaggle" / "IdLookupTable.csv", index=False)
    print(f"fixtures written to {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
