"""Batch prediction: the photo pipeline over files and folders, one JSON line per face.

    fkp predict photos/ more.jpg --out results.jsonl [--annotated out/] [--whole-image] [--flip-test]

Each line is one face: {"file", "width", "height", "face" (1 = largest), "box" {x, y, width, height,
score (the detector's), roll_degrees (the face's in-plane turn, positive = clockwise on screen)},
"face_score" (under 0.55: probably not a face), "keypoints" {name: {x, y, confidence}}}, coordinates
in original-photo pixels (x right, y down, pixel centres at integers). A photo without a face gets
one line with "face": null and "error"; so does an input that cannot be read, which is reported and
skipped, never fatal: a damaged or non-image file, a missing file, one without read permission, and
named pipes (FIFOs), devices, sockets and symbolic link loops, which are never opened. Folders are
searched recursively for image files (by extension); files named explicitly are tried whatever their
extension.

--out is written to a temporary file beside it and moved into place when the run ends having read
at least one input, so a run that reads nothing, fails or is interrupted leaves an earlier file as it
was.

Exit status: 0 every input was read; 1 some input could not be read (each is reported on stderr and
has an "error" line); 2 a usage or data error (the message says which; --debug shows a traceback).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from .errors import FkpError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a photo, found without opening it (`os.stat`), or None for a
    regular file. Named pipes, devices and sockets are never opened: reading them can block forever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return "it is a broken symbolic link (its target does not exist)"
        return "there is no such file"
    except PermissionError:
        return "permission denied"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "it is a symbolic link loop"
        return f"it cannot be opened ({error.strerror or error})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "it is a folder"
    if stat.S_ISFIFO(mode):
        return "it is a named pipe (FIFO), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a file"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a file"
    return "it is not a regular file"


def unreadable_message(path: Path, reason: str) -> str:
    """The error text of an input that cannot be read, worded as `fkp.images.load_photo`'s."""
    return f"{path.name} is not an image that can be read: {reason}"


def expand(paths: Iterable[str | Path]) -> Iterator[tuple[Path, str | None]]:
    """(path, None) for each input to predict on, (path, error message) for each to skip: files
    named directly (whatever they are), and the entries with an image extension under named folders
    (sorted, recursive, symbolic links to folders not followed), plus sub-folders that cannot be listed."""
    for path in map(Path, paths):
        if not os.path.isdir(path):  # (False also where it cannot be looked at: file_problem says why)
            problem = file_problem(path)
            yield path, None if problem is None else unreadable_message(path, problem)
            continue
        found: list[tuple[Path, str | None]] = []

        def unlisted(error: OSError) -> None:
            reason = "permission denied" if isinstance(error, PermissionError) else (error.strerror or str(error))
            found.append((Path(error.filename), f"folder {error.filename} cannot be searched: {reason}"))

        for folder, _, names in os.walk(path, onerror=unlisted):
            for name in names:
                if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    file = Path(folder) / name
                    problem = file_problem(file)
                    found.append((file, None if problem is None else unreadable_message(file, problem)))
        yield from sorted(found, key=lambda item: item[0])


def predict_files(
    files: Iterable[Path], predictor, detector=None, whole_image: bool = False, flip_test: bool | None = None
) -> Iterator[tuple[Path, object, list, list[dict]]]:
    """For each file: (path, RGB photo or None if unreadable, faces (`FaceResult`s), JSON-ready
    records: one per face, or one with "face": None and an "error"). A path that is not a regular
    file (`file_problem`) is never opened."""
    from .images import NotAnImageError, load_photo
    from .pipeline import predict_photo

    for path in map(Path, files):
        problem = file_problem(path)
        try:
            if problem is not None:
                raise NotAnImageError(unreadable_message(path, problem))
            photo = load_photo(path)
        except (NotAnImageError, OSError) as error:
            yield path, None, [], [{"file": str(path), "face": None, "error": str(error)}]
            continue
        height, width = photo.shape[:2]
        faces = predict_photo(predictor, photo, detector, whole_image=whole_image, flip_test=flip_test)
        if not faces:
            yield (
                path,
                photo,
                [],
                [{"file": str(path), "width": width, "height": height, "face": None, "error": "no face found"}],
            )
            continue
        records = [
            {"file": str(path), "width": width, "height": height, "face": number, **face.as_dict()}
            for number, face in enumerate(faces, start=1)
        ]
        yield path, photo, faces, records


class Output:
    """A text output that replaces ``path`` only on `commit`: it is written to a temporary file in
    the same folder and moved into place with `os.replace` (one step: readers see the old file or the
    new, never half of one). ``"-"`` is stdout; a path to something other than a regular file (e.g.
    /dev/stdout, a named pipe) is written directly."""

    def __init__(self, path: str):
        self.name, self.target, self.temporary = path, None, None
        if path == "-":
            self.handle: IO[str] = sys.stdout
            return
        target = Path(os.path.realpath(path))  # a symbolic link keeps pointing at the new file
        try:
            mode = os.stat(target).st_mode
        except FileNotFoundError:
            mode = None
        except OSError as error:
            raise FkpError(f"--out {path}: {error.strerror or error}") from None
        if mode is not None and stat.S_ISDIR(mode):
            raise FkpError(f"--out {path} is a folder; name a file")
        try:
            if mode is not None and not stat.S_ISREG(mode):
                self.handle = open(target, "w")
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, self.temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as error:
            raise FkpError(f"cannot write --out {path}: {error.strerror or error}") from None
        self.target, self.handle = target, os.fdopen(handle, "w")
        self.mode = mode & 0o7777 if mode is not None else 0o666 & ~_umask()

    def write(self, text: str) -> None:
        self.handle.write(text)

    def commit(self) -> None:
        """Finish: the temporary file replaces the target."""
        if self.handle is not sys.stdout:
            self.handle.close()
        if self.temporary:
            os.chmod(self.temporary, self.mode)
            os.replace(self.temporary, self.target)
            self.temporary = None

    def discard(self) -> None:
        """Give up: the temporary file is removed and the target left as it was."""
        if self.handle is not sys.stdout:
            self.handle.close()
        if self.temporary:
            os.unlink(self.temporary)
            self.temporary = None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def annotated_name(path: Path, used: set[str]) -> str:
    """A unique output file name for the annotated copy of ``path``."""
    name, counter = f"{path.stem}_keypoints.jpg", 1
    while name in used:
        counter += 1
        name = f"{path.stem}_{counter}_keypoints.jpg"
    used.add(name)
    return name


def main(argv: list[str] | None = None, prog: str = "python -m fkp.predict") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("photos", nargs="+", help="image files and/or folders")
    parser.add_argument("--out", required=True, help="JSON Lines output file ('-' for stdout)")
    parser.add_argument(
        "--annotated", metavar="FOLDER", default=None, help="also write each photo with its keypoints drawn"
    )
    parser.add_argument(
        "--model", default=None, help="model folder or Hub id (default: $FKP_MODEL or the shipped weights)"
    )
    parser.add_argument("--whole-image", action="store_true", help="treat each image as one face crop (no detector)")
    parser.add_argument("--flip-test", action="store_true", help="flip test-time augmentation")
    args = parser.parse_args(argv)

    # inputs and outputs are checked before the model is loaded
    inputs = list(expand(args.photos))
    if not inputs:
        raise FkpError(
            f"no image files in {', '.join(args.photos)} (folders are searched for {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    for path, problem in inputs:
        if problem:
            print(f"skipped {path}: {problem}", file=sys.stderr)
    readable = [path for path, problem in inputs if problem is None]
    annotated = Path(args.annotated) if args.annotated else None
    if annotated and readable:
        try:
            annotated.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FkpError(f"cannot write --annotated {annotated}: {error.strerror or error}") from None
    out = Output(args.out)
    try:
        counts = _predict_into(out, inputs, readable, args, annotated)
    except BaseException:
        out.discard()
        raise
    read = counts["photos"] - counts["unreadable"]
    if read:
        out.commit()
        wrote = f"wrote {args.out}"
    else:
        out.discard()
        kept = " (the earlier file is left as it was)" if os.path.exists(args.out) else ""
        wrote = f"nothing could be read: {args.out} not written{kept}"
    print(
        f"{counts['photos']} photo(s): {counts['faces']} face(s), {counts['no_face']} without a face, "
        f"{counts['unreadable']} unreadable; {wrote}",
        file=sys.stderr,
    )
    return 0 if counts["unreadable"] == 0 else 1


def _predict_into(
    out: Output,
    inputs: list[tuple[Path, str | None]],
    readable: list[Path],
    args: argparse.Namespace,
    annotated: Path | None,
) -> dict[str, int]:
    """Predict on the ``readable`` inputs, write one JSON line per face / unreadable input to
    ``out`` in input order, and return the counts."""
    from PIL import Image
    from tqdm.auto import tqdm

    from .render import display_scale, draw_faces

    results: Iterator = iter(())
    if readable:
        from .landmarker import FaceKeypoints

        predictor = FaceKeypoints(args.model, flip_test=args.flip_test)
        results = predict_files(readable, predictor, whole_image=args.whole_image)
    counts = {"photos": 0, "faces": 0, "no_face": 0, "unreadable": 0}
    used: set[str] = set()
    for path, problem in tqdm(inputs, unit="photo", file=sys.stderr, disable=not readable):
        counts["photos"] += 1
        if problem:  # reported before the model was loaded
            counts["unreadable"] += 1
            out.write(json.dumps({"file": str(path), "face": None, "error": problem}) + "\n")
            continue
        _, photo, faces, records = next(results)
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
                drawn = Image.fromarray(draw_faces(photo, faces, display_scale(photo)))
                drawn.save(annotated / annotated_name(path, used), quality=90)
    return counts


if __name__ == "__main__":
    from .errors import run_cli

    sys.exit(run_cli(main, prog="python -m fkp.predict"))
