"""What a request may carry: an inline capture of bounded size, or a file that Gradio itself received.

Every event runs with preprocess=False, so the handlers get the browser's raw payload and pass it here
first: nothing a request names is opened, or even looked up, unless it is one of Gradio's own files.
No Gradio import at module level (`received_file` asks Gradio for its upload folder when called).
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from .limits import MAX_INLINE_BYTES
from .results import (
    BAD_CAPTURE,
    CLIP_NOT_AN_UPLOAD,
    NO_CLIP,
    NO_IMAGE,
    NOT_AN_UPLOAD,
    START_HINT,
    VIDEO_HINT,
    InputError,
    too_large,
)

# the example photos shipped in the package (fkp.EXAMPLES), so pip-installed demos offer them too
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def received_image(upload: dict | None, max_bytes: int | None = None) -> tuple[str | bytes, str | None]:
    """(path or bytes, display name) of the image a request carries: an inline capture (data: URL,
    at most ``max_bytes``, default MAX_INLINE_BYTES) or a file Gradio received (`received_file`).
    Raises InputError with a plain message."""
    if not upload:
        raise InputError(START_HINT)
    if not isinstance(upload, dict):
        raise InputError(NO_IMAGE)
    max_bytes = MAX_INLINE_BYTES if max_bytes is None else max_bytes
    url = upload.get("url") or ""
    if not isinstance(url, str):
        url = ""
    if url.startswith("data:"):  # webcam / clipboard captures may arrive inline
        encoded = url.split(",", 1)[-1]
        if len(encoded) > max_bytes * 4 // 3 + 4:
            raise InputError(too_large(max_bytes))
        try:
            return base64.b64decode(encoded, validate=True), "capture.png"
        except (binascii.Error, ValueError):
            raise InputError(BAD_CAPTURE) from None
    name = upload.get("orig_name")
    return str(received_file(upload.get("path"))), name if isinstance(name, str) else None


def received_clip(upload: dict | list | None) -> tuple[Path, str | None]:
    """(path, display name) of the clip a request carries: only a file Gradio received (no inline data,
    no path of the server's: `received_file`), and only a regular file. Raises InputError."""
    if isinstance(upload, list) and len(upload) == 1:  # a file input may send a list of one
        upload = upload[0]
    if not upload:
        raise InputError(VIDEO_HINT)
    if not isinstance(upload, dict):
        raise InputError(NO_CLIP)
    try:
        path = received_file(upload.get("path"))
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except (InputError, OSError):
        regular = False
    if not regular:
        raise InputError(CLIP_NOT_AN_UPLOAD)
    name = upload.get("orig_name")
    return path, name if isinstance(name, str) else None


def received_file(path: str | None) -> Path:
    """The path of a file that Gradio itself received or cached (its upload folder, or the shipped
    examples); anything else a request names is refused without touching it, so the demo never reads
    a server file, nor tells whether one exists."""
    from gradio.utils import get_upload_folder

    roots = [Path(os.path.realpath(get_upload_folder())), Path(os.path.realpath(EXAMPLES))]
    # realpath follows symbolic links (a link inside the upload folder may point anywhere); it reads
    # link targets only, and opens nothing, so the answer says nothing of whether a file exists
    resolved = Path(os.path.realpath(path)) if isinstance(path, str) and path and "\0" not in path else None
    if resolved is not None and any(resolved.is_relative_to(root) for root in roots):
        return resolved
    raise InputError(NOT_AN_UPLOAD)
