"""The server's files: each request's downloads, pruned as it goes, and nothing left on disk at exit.

The downloads folder is made on first use (one per process) and removed at exit; Gradio's own cache
is pruned of the empty folders it leaves, and `clean_up` deletes a page's cached files at exit.
A session's video results live in one folder of its own inside Gradio's cache (served from there, not
copied), replaced by its next clip and deleted when the session ends (`end_session`), after
FILE_SECONDS, or at exit.
"""

from __future__ import annotations

import atexit
import csv
import functools
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from .limits import DOWNLOAD_SECONDS, FILE_SECONDS
from .results import TABLE_COLUMNS


@functools.cache
def downloads() -> Path:
    """The process's downloads folder, made on first use and removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="fkp-demo-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def request_folder() -> Path:
    """A new folder for one request's downloads; every request (API ones included) first clears what
    earlier ones left."""
    prune_downloads()
    folder = downloads() / uuid.uuid4().hex
    folder.mkdir()
    return folder


def write_jpeg(path: Path, image: np.ndarray, quality: int = 92) -> None:
    import cv2

    _, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    path.write_bytes(encoded.tobytes())


def write_tables(folder: Path, stem: str, payload: dict, rows: list) -> list[str]:
    """The JSON result and the coordinate table as CSV, side by side in ``folder``; their paths."""
    json_path = folder / f"{stem}_keypoints.json"
    json_path.write_text(json.dumps(payload, indent=2))
    csv_path = folder / f"{stem}_keypoints.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TABLE_COLUMNS)
        writer.writerows(rows)
    return [str(json_path), str(csv_path)]


SESSION_PREFIX = "fkp-session-"
SESSION_FOLDERS: dict[str, Path] = {}  # session hash -> the folder of its latest clip's results
_SESSIONS_LOCK = threading.Lock()


def session_folder(session: str) -> Path:
    """A new folder for a session's clip results, inside Gradio's cache; the session's earlier results
    are deleted first, so a session holds one clip's files at most."""
    end_session(session)
    folder = gradio_cache() / f"{SESSION_PREFIX}{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    with _SESSIONS_LOCK:
        SESSION_FOLDERS[session] = folder
    return folder


def end_session(session: str) -> None:
    """Delete a session's clip results (when it ends: the page was closed or reloaded)."""
    with _SESSIONS_LOCK:
        folder = SESSION_FOLDERS.pop(session, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def prune_sessions(max_age: float = FILE_SECONDS) -> None:
    """Delete session folders older than ``max_age`` seconds (sessions that never ended: API clients,
    lost connections), and forget the sessions whose folder is gone."""
    cutoff = time.time() - max_age
    for folder in gradio_cache().glob(f"{SESSION_PREFIX}*"):
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            pass
    with _SESSIONS_LOCK:
        for session, folder in list(SESSION_FOLDERS.items()):
            if not folder.exists():
                del SESSION_FOLDERS[session]


@atexit.register
def end_all_sessions() -> None:
    for session in list(SESSION_FOLDERS):
        end_session(session)


def prune_downloads(max_age: float = DOWNLOAD_SECONDS) -> None:
    """Delete our per-request download folders once Gradio has copied them into its cache (which
    `delete_cache` prunes): anything older than ``max_age`` seconds. Also removes the empty folders
    that Gradio's cache keeps after it deleted their files (one per distinct file or URL it received)."""
    cutoff = time.time() - max_age
    for entry in downloads().iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        except FileNotFoundError:  # another request pruned it first
            pass
    prune_sessions()
    remove_empty_folders(gradio_cache(), max_age)


def gradio_cache() -> Path:
    """Gradio's upload and result cache (GRADIO_TEMP_DIR)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def remove_empty_folders(root: Path, max_age: float = 0.0) -> int:
    """Remove the empty folders directly inside ``root`` that are older than ``max_age`` seconds
    (young ones may be about to receive a file); returns how many were removed."""
    cutoff, removed = time.time() - max_age, 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.rmdir(entry.path)  # fails unless empty
                removed += 1
        except OSError:
            pass
    return removed


def clean_up(blocks: Any) -> None:
    """At exit: every file Gradio received or cached for this page (uploads, results, the examples'
    copies) with the folders they were in. Gradio deletes its files only when its server shuts down
    gracefully, which a stopped process does not always get to, and it keeps the examples' copies."""
    files = {file for files in blocks.temp_file_sets for file in files}
    files |= {file for block in blocks.blocks.values() for file in getattr(block, "keep_in_cache", ())}
    cache = os.path.realpath(gradio_cache())
    for file in files:
        path = Path(file)
        if not os.path.realpath(path).startswith(cache + os.sep):
            continue
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()  # only if empty
        except OSError:
            pass
    remove_empty_folders(gradio_cache())
