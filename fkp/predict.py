"""Batch prediction: the photo pipeline over files and folders, one JSON line per face.

    fkp predict photos/ more.jpg --out results.jsonl [--csv results.csv] [--annotated out/]
                [--whole-image] [--flip-test]
    fkp predict clip.mp4 --out clip.jsonl --csv clip.csv --annotated drawn/ --every 2    # a video
    fkp predict "$(fkp examples)" --out results.jsonl       # the example photos shipped with fkp

Each line is one face: {"file", "width", "height", "face" (its number), "annotated" (the path of
the photo drawn with its keypoints, or null without --annotated), "box" {x, y, width, height, score
(the detector's), roll_degrees (the face's in-plane turn, positive = clockwise on screen)},
"face_score" (under 0.70: probably not a face), "keypoints" {name: {x, y, confidence}}, "model" (the
run's keypoint model: "fast", "accurate", a folder's absolute path or a Hub id, from --model or
$FKP_MODEL)}, coordinates in original-photo pixels (x right, y down, pixel centres at integers),
rounded to 0.01 px, scores and confidences to 0.0001. Faces are numbered in reading order, as in the
demo and on the annotated photo: by rows from top to bottom, then left to right
(`fkp.pipeline.reading_order`).

A photo without a face gets one line with "face": null and "error"; so does an input that cannot be
read, which is reported and skipped, never fatal: an empty, damaged or non-image file, a missing
file, one without read permission, and named pipes (FIFOs), devices, sockets and symbolic link loops,
which are never opened. Folders are searched recursively for image files (by extension); files named
explicitly are tried whatever their extension.

--annotated DIR keeps the inputs' subfolders: photos/a/same.jpg (from the folder photos) is drawn
into DIR/a/same_keypoints.jpg, a file named directly into DIR/NAME_keypoints.jpg. Two different
inputs never share a file: the second of a clash (e.g. same.jpg and same.png) gets same_2_keypoints.jpg.

Videos (.mp4 .mov .webm .avi .mkv, animated GIFs): one line per frame and face, with "frame" (index),
"time" (seconds) and "track" (an id that stays with a face across frames); a frame without a face gets a
line with "face": null. --every N predicts on every Nth frame. --annotated writes DIR/NAME_keypoints.webm
(VP9). A truncated video keeps the lines of the frames read and gets an "error" line with the "frame"
where it stopped (exit status 1).

--csv FILE writes the same lines as a table, beside --out or instead of it: one row per line (so per
face, and per frame and face for videos), columns `fkp.records.CSV_COLUMNS`: file, width, height,
frame, time, track, face, box_x ... box_roll_degrees, face_score, then NAME_x, NAME_y, NAME_confidence
for each keypoint, annotated, error, model; a field a line does not have is empty.

--out and --csv are written to temporary files beside them and moved into place when the run ends having
read at least one input, so a run that reads nothing, fails or is interrupted leaves earlier files as they
were.

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
from .shipped import MODEL_HELP, model_label, model_source

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".avi", ".mkv"}  # (fkp.video's, here without importing OpenCV)


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a photo, found without opening it (`os.stat`), or None for a
    regular file that is not empty. Named pipes, devices and sockets are never opened: reading them can
    block forever."""
    try:
        status = os.stat(path)
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
    mode = status.st_mode
    if stat.S_ISREG(mode):
        return "the file is empty" if status.st_size == 0 else None
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
    """The error text of an input that cannot be read, worded as `fkp.images.load_photo`'s (or as
    `fkp.video.read_video`'s, for a name with a video extension)."""
    kind = "a video" if path.suffix.lower() in VIDEO_SUFFIXES else "an image"
    return f"{path.name} is not {kind} that can be read: {reason}"


def expand(paths: Iterable[str | Path]) -> Iterator[tuple[Path, str | None]]:
    """(path, None) for each input to predict on, (path, error message) for each to skip: files
    named directly (whatever they are), and the entries with an image extension under named folders
    (sorted, recursive, symbolic links to folders not followed), plus sub-folders that cannot be listed."""
    for path, problem, _ in expand_with_names(paths):
        yield path, problem


def expand_with_names(paths: Iterable[str | Path]) -> Iterator[tuple[Path, str | None, Path]]:
    """`expand`, each input with its name under --annotated: its path relative to the folder it was
    found in (subfolders kept), or its file name when it was named directly."""
    for path in map(Path, paths):
        if not os.path.isdir(path):  # (False also where it cannot be looked at: file_problem says why)
            problem = file_problem(path)
            yield path, None if problem is None else unreadable_message(path, problem), Path(path.name)
            continue
        found: list[tuple[Path, str | None, Path]] = []

        def unlisted(error: OSError) -> None:
            reason = "permission denied" if isinstance(error, PermissionError) else (error.strerror or str(error))
            message = f"folder {error.filename} cannot be searched: {reason}"
            found.append((Path(error.filename), message, Path(Path(error.filename).name)))

        for folder, _, names in os.walk(path, onerror=unlisted):
            for name in names:
                if Path(name).suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                    file = Path(folder) / name
                    problem = file_problem(file)
                    message = None if problem is None else unreadable_message(file, problem)
                    found.append((file, message, file.relative_to(path)))
        yield from sorted(found, key=lambda item: item[0])


def predict_files(
    files: Iterable[Path], predictor, detector=None, whole_image: bool = False, flip_test: bool | None = None
) -> Iterator[tuple[Path, object, list, list[dict]]]:
    """For each file: (path, RGB photo or None if unreadable, faces (`FaceResult`s in reading order),
    JSON-ready records: one per face, numbered from 1 in the same order, or one with "face": None and an
    "error"). A path that is not a regular file (`file_problem`) is never opened."""
    from .images import NotAnImageError, load_photo
    from .pipeline import predict_photo, reading_order
    from .records import face_lines

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
        faces = reading_order(predict_photo(predictor, photo, detector, whole_image=whole_image, flip_test=flip_test))
        yield path, photo, faces, face_lines(str(path), width, height, faces)


class Output:
    """A text output that replaces ``path`` only on `commit`: it is written to a temporary file in
    the same folder and moved into place with `os.replace` (one step: readers see the old file or the
    new, never half of one). ``"-"`` is stdout; a path to something other than a regular file (e.g.
    /dev/stdout, a named pipe) is written directly. ``option`` names it in errors."""

    def __init__(self, path: str, option: str = "--out"):
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
            raise FkpError(f"{option} {path}: {error.strerror or error}") from None
        if mode is not None and stat.S_ISDIR(mode):
            raise FkpError(f"{option} {path} is a folder; name a file")
        try:
            if mode is not None and not stat.S_ISREG(mode):
                self.handle = open(target, "w")
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, self.temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as error:
            raise FkpError(f"cannot write {option} {path}: {error.strerror or error}") from None
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


class Lines:
    """Where a run's lines go: JSON Lines to ``out`` and/or CSV rows (`fkp.records.write_csv`, header
    first) to ``table``, each an `Output` (so written atomically), committed or discarded together.
    Every line ends with the run's ``model`` (`fkp.shipped.model_label`), unless it is None."""

    def __init__(self, out: str | None, table: str | None, model: str | None = None):
        self.model = model
        if out and table and (out == table == "-" or os.path.realpath(out) == os.path.realpath(table)):
            raise FkpError(f"--out and --csv both name {out}; give them different files")
        self.outputs: list[Output] = []
        self.jsonl: Output | None = None
        self.csv: Output | None = None
        from .records import write_csv  # (imported here, so that --help loads no numpy)

        try:
            if out:
                self.jsonl = Output(out)
                self.outputs.append(self.jsonl)
            if table:
                self.csv = Output(table, "--csv")
                self.outputs.append(self.csv)
                write_csv(self.csv, [], header=True)
        except BaseException:
            self.discard()
            raise

    @property
    def names(self) -> list[str]:
        return [output.name for output in self.outputs]

    def write(self, line: dict) -> None:
        """One line (`fkp.records.face_lines`' shape) to every output."""
        if self.model is not None:
            line = {**line, "model": self.model}
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(line) + "\n")
        if self.csv is not None:
            from .records import write_csv

            write_csv(self.csv, [line], header=False)

    def commit(self) -> None:
        for output in self.outputs:
            output.commit()

    def discard(self) -> None:
        for output in self.outputs:
            output.discard()


def annotated_path(folder: Path, name: Path, source: Path, used: dict[Path, str], suffix: str = ".jpg") -> Path:
    """Where the annotated copy of ``source`` goes: ``folder / name``'s subfolders / STEM_keypoints.jpg
    (``name`` from `expand_with_names`). ``used`` maps the paths given so far to their inputs' real
    paths: a different input that would land on a used path gets STEM_2_keypoints.jpg, STEM_3_... instead."""
    real = os.path.realpath(source)
    target, counter = folder / name.parent / f"{name.stem}_keypoints{suffix}", 1
    while used.setdefault(target, real) != real:
        counter += 1
        target = folder / name.parent / f"{name.stem}_{counter}_keypoints{suffix}"
    return target


def main(argv: list[str] | None = None, prog: str = "python -m fkp.predict") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("photos", nargs="+", help="image files, video files and/or folders")
    parser.add_argument("--out", default=None, help="JSON Lines output file ('-' for stdout)")
    parser.add_argument(
        "--csv",
        metavar="FILE",
        default=None,
        help="also (or instead of --out) the same lines as CSV, one row per face (per frame and face for videos)",
    )
    parser.add_argument(
        "--annotated",
        metavar="FOLDER",
        default=None,
        help="also draw each photo with faces, its keypoints and face numbers, into FOLDER (subfolders kept); "
        "each video as NAME_keypoints.webm, faces labelled by track",
    )
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--whole-image", action="store_true", help="treat each image as one face crop (no detector)")
    parser.add_argument("--flip-test", action="store_true", help="flip test-time augmentation")
    parser.add_argument(
        "--every", type=int, default=1, metavar="N", help="videos: predict on every Nth frame only (default: 1, all)"
    )
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be 1 or more")
    args.model = model_source(args.model)  # a model that is nowhere is named before anything is read
    if not args.out and not args.csv:
        parser.error("name an output: --out FILE (JSON Lines) and/or --csv FILE")

    # inputs and outputs are checked before the model is loaded
    inputs = list(expand_with_names(args.photos))
    if not inputs:
        raise FkpError(
            f"no image files in {', '.join(args.photos)} "
            f"(folders are searched for {', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})"
        )
    for path, problem, _ in inputs:
        if problem:
            print(f"skipped {path}: {problem}", file=sys.stderr)
    readable = [path for path, problem, _ in inputs if problem is None]
    from .video import is_video

    videos = {path for path in readable if is_video(path)}
    if videos and args.whole_image:
        raise FkpError("--whole-image does not apply to videos (their faces are tracked from detections)")
    annotated = Path(args.annotated) if args.annotated else None
    if annotated and readable:
        try:
            annotated.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FkpError(f"cannot write --annotated {annotated}: {error.strerror or error}") from None
    out = Lines(args.out, args.csv, model_label(args.model))
    try:
        counts = _predict_into(out, inputs, readable, args, annotated, videos)
    except BaseException:
        out.discard()
        raise
    names = " and ".join(out.names)
    if counts["read"]:
        out.commit()
        wrote = f"wrote {names}"
    else:
        out.discard()
        kept = " (earlier files are left as they were)" if any(map(os.path.exists, out.names)) else ""
        wrote = f"nothing could be read: {names} not written{kept}"
    frames = f", {counts['videos']} video(s) ({counts['frames']} frame(s) predicted)" if counts["videos"] else ""
    print(
        f"{counts['photos'] - counts['videos']} photo(s){frames}: {counts['faces']} face(s), "
        f"{counts['no_face']} without a face, {counts['unreadable']} unreadable; {wrote}",
        file=sys.stderr,
    )
    return 0 if counts["unreadable"] == 0 else 1


def _predict_into(
    out: Lines,
    inputs: list[tuple[Path, str | None, Path]],
    readable: list[Path],
    args: argparse.Namespace,
    annotated: Path | None,
    videos: set[Path] = frozenset(),
) -> dict[str, int]:
    """Predict on the ``readable`` inputs, write one line per face / unreadable input to
    ``out`` in input order (each face line with its annotated file's path), and return the counts
    (``videos``: the inputs read as videos, see `_predict_video`)."""
    from PIL import Image
    from tqdm.auto import tqdm

    from .render import display_scale, draw_faces

    results: Iterator = iter(())
    if readable:
        from .landmarker import FaceKeypoints

        predictor = FaceKeypoints(args.model, flip_test=args.flip_test)
        print(
            f"keypoint model: {model_label(args.model)} ({predictor.backend}{', flip test' if args.flip_test else ''})",
            file=sys.stderr,
        )
        photos = [path for path in readable if path not in videos]
        results = predict_files(photos, predictor, whole_image=args.whole_image)
    counts = {"photos": 0, "faces": 0, "no_face": 0, "unreadable": 0, "read": 0, "videos": 0, "frames": 0}
    used: dict[Path, str] = {}
    for path, problem, name in tqdm(inputs, unit="photo", file=sys.stderr, disable=not readable):
        counts["photos"] += 1
        if problem:  # reported before the model was loaded
            counts["unreadable"] += 1
            out.write({"file": str(path), "face": None, "error": problem})
            continue
        if path in videos:
            counts["videos"] += 1
            target = annotated_path(annotated, name, path, used, ".webm") if annotated else None
            _predict_video(out, path, predictor, args.every, target, counts)
            continue
        _, photo, faces, records = next(results)
        if faces and annotated:  # drawn before its lines are written, so that a line names a file that exists
            target = annotated_path(annotated, name, path, used)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(draw_faces(photo, faces, display_scale(photo))).save(target, quality=90)
            except OSError as error:
                raise FkpError(f"cannot write --annotated {target}: {error.strerror or error}") from None
            for record in records:
                record["annotated"] = str(target)
        for record in records:
            out.write(record)
        if photo is None:
            counts["unreadable"] += 1
            counts["read"] -= 1
            tqdm.write(f"skipped {path}: {records[0]['error']}", file=sys.stderr)
        elif not faces:
            counts["no_face"] += 1
        else:
            counts["faces"] += len(faces)
        counts["read"] += 1
    return counts


def _predict_video(out: Lines, path: Path, predictor, every: int, target: Path | None, counts: dict[str, int]) -> None:
    """One video's lines: for every ``every``-th frame, one line per face (numbered in reading order, with
    its "frame", "time" and "track" id) or one with "face": None, written as each frame is done (so a long
    video's lines are never all held). With ``target``, the frames drawn with their faces (labelled by
    track id) become an annotated VP9 WebM, moved into place when the video ends: before ``out`` can be
    committed, so that a line never names a file that does not exist. A video that stops early
    (`fkp.video.VideoError`) keeps what was read, and gets a last line with the "frame" where it stopped
    and the "error"."""
    from tqdm.auto import tqdm

    from .pipeline import reading_order
    from .records import face_lines
    from .render import display_scale, draw_faces
    from .video import VideoError, VideoWriter, read_video, video_info

    fps, total = video_info(path)
    annotated = None if target is None else str(target)
    frames = 0
    writer: VideoWriter | None = None
    predictor.reset_video()
    progress = tqdm(total=total or None, unit="frame", file=sys.stderr, leave=False, desc=path.name)
    error: VideoError | None = None
    try:
        for frame in read_video(path):
            progress.update(1)
            if frame.index % every:
                continue
            height, width = frame.rgb.shape[:2]
            faces = reading_order(predictor.detect_for_video(frame.rgb, frame.time))
            if target is not None:
                scale = display_scale(frame.rgb)
                if writer is None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    size = (round(width * scale), round(height * scale))
                    writer = VideoWriter(target, (fps or 25.0) / every, size)
                writer.write(draw_faces(frame.rgb, faces, scale, labels=[face.track for face in faces]))
            for line in face_lines(str(path), width, height, faces, frame.index, frame.time):
                if line["face"] is not None:
                    line["annotated"] = annotated
                out.write(line)
            frames += 1
            counts["no_face"] += not faces
            counts["faces"] += len(faces)
            counts["frames"] += 1
    except VideoError as stopped:
        error = stopped
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    finally:
        progress.close()
    if writer is not None:
        try:
            writer.commit()
        except OSError as problem:
            writer.discard()
            raise FkpError(f"cannot write --annotated {target}: {problem.strerror or problem}") from None
    if frames:
        counts["read"] += 1
    if error is not None:
        counts["unreadable"] += 1
        out.write({"file": str(path), "frame": error.frames, "face": None, "error": str(error)})
        tqdm.write(f"{'stopped' if frames else 'skipped'} {path}: {error}", file=sys.stderr)


if __name__ == "__main__":
    from .errors import run_cli

    sys.exit(run_cli(main, prog="python -m fkp.predict"))
