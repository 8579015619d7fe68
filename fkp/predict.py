"""Batch prediction: the photo pipeline over files and folders, one JSON line per face.

    fkp predict photos/ more.jpg --out results.jsonl [--annotated out/] [--whole-image] [--flip-test]

Each line is one face: {"file", "width", "height", "face" (1 = largest), "box" {x, y, width, height,
score (the detector's), roll_degrees (the face's in-plane turn, positive = clockwise on screen)},
"face_score" (under 0.55: probably not a face), "keypoints" {name: {x, y, confidence}}}, coordinates
in original-photo pixels (x right, y down, pixel centres at integers). A photo without a face gets one line with "face": null and "error"; so does a file that
cannot be read, which is reported and skipped, never fatal. Folders are searched recursively for
image files; files named explicitly are tried whatever their extension.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files named directly, and the image files under named folders (sorted, recursive)."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


def predict_files(files: Iterable[Path], predictor, detector=None, whole_image: bool = False, flip_test: bool | None = None) -> Iterator[tuple[Path, object, list, list[dict]]]:
    """For each file: (path, RGB photo or None if unreadable, faces (`FaceResult`s), JSON-ready
    records: one per face, or one with "face": None and an "error")."""
    from .photo import NotAnImageError, load_photo, predict_photo

    for path in files:
        try:
            photo = load_photo(path)
        except (NotAnImageError, OSError) as error:
            yield path, None, [], [{"file": str(path), "face": None, "error": str(error)}]
            continue
        height, width = photo.shape[:2]
        faces = predict_photo(predictor, photo, detector, whole_image=whole_image, flip_test=flip_test)
        if not faces:
            yield path, photo, [], [{"file": str(path), "width": width, "height": height, "face": None, "error": "no face found"}]
            continue
        records = [{"file": str(path), "width": width, "height": height, "face": number, **face.as_dict()} for number, face in enumerate(faces, start=1)]
        yield path, photo, faces, records


def annotated_name(path: Path, used: set[str]) -> str:
    """A unique output file name for the annotated copy of ``path``."""
    name, counter = f"{path.stem}_keypoints.jpg", 1
    while name in used:
        counter += 1
        name = f"{path.stem}_{counter}_keypoints.jpg"
    used.add(name)
    return name


def main(argv: list[str] | None = None, prog: str = "python -m fkp.predict") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="+", help="image files and/or folders")
    parser.add_argument("--out", required=True, help="JSON Lines output file ('-' for stdout)")
    parser.add_argument("--annotated", metavar="FOLDER", default=None, help="also write each photo with its keypoints drawn")
    parser.add_argument("--model", default=None, help="model folder or Hub id (default: $FKP_MODEL or the shipped weights)")
    parser.add_argument("--whole-image", action="store_true", help="treat each image as one face crop (no detector)")
    parser.add_argument("--flip-test", action="store_true", help="flip test-time augmentation")
    args = parser.parse_args(argv)

    from PIL import Image
    from tqdm.auto import tqdm

    from .api import FaceKeypoints
    from .render import display_scale, draw_faces

    files = list(expand(args.photos))
    predictor = FaceKeypoints(args.model, flip_test=args.flip_test)
    annotated = Path(args.annotated) if args.annotated else None
    if annotated:
        annotated.mkdir(parents=True, exist_ok=True)
    out = sys.stdout if args.out == "-" else open(args.out, "w")
    counts = {"photos": 0, "faces": 0, "no_face": 0, "unreadable": 0}
    used: set[str] = set()
    try:
        for path, photo, faces, records in tqdm(predict_files(files, predictor, whole_image=args.whole_image), total=len(files), unit="photo", file=sys.stderr):
            counts["photos"] += 1
            for record in records:
                out.write(json.dumps(record) + "\n")
            if photo is None:
                counts["unreadable"] += 1
                tqdm.write(f"skipped {path}: {records[0]['error']}", file=sys.stderr)
            elif not faces:
                counts["no_face"] += 1
            else:
                counts["faces"] += len(faces)
                if annotated:
                    Image.fromarray(draw_faces(photo, faces, display_scale(photo))).save(annotated / annotated_name(path, used), quality=90)
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"{counts['photos']} photo(s): {counts['faces']} face(s), {counts['no_face']} without a face, "
          f"{counts['unreadable']} unreadable; wrote {args.out}", file=sys.stderr)
    return 0 if counts["photos"] > counts["unreadable"] else 1


if __name__ == "__main__":
    sys.exit(main())
