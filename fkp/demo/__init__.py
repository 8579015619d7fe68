"""fkp demo: upload a photo (or take one with the webcam, or paste one) and get the 15 Kaggle facial
keypoints of every face, with a zoomed view of each face, its heatmaps, a table, JSON and downloads;
upload a clip and get its faces followed through it (an annotated clip, plots, JSON lines and CSV);
or follow the keypoints live on the webcam.

    fkp demo [--port 7860]             # or `python app.py` in the repository (the Space's entry point)
    FKP_MODEL=runs/fkp fkp demo        # another model: 'accurate', a local folder or a Hub model id

The server is meant for the open internet: it reads only files that Gradio itself received, keeps
per-session state small and expiring, deletes its files, bounds uploads, queue and concurrency, and
never shows a server path or a stack trace.

The package, in the order its imports run (each imports only those above it):
    limits.py    every bound of the public server (sizes, counts, concurrency, time)
    results.py   what the user is told, as plain data: face order, table rows, JSON, status lines
    guard.py     what a request may carry: a bounded inline capture or a file Gradio received
    storage.py   the downloads folder (made on first use), each session's clip results, their pruning,
                 nothing left at exit
    memory.py    freed memory given back to the system after each request
    streams.py   the watchdog that closes abandoned webcam streams
    probe.py     what a clip's container header says (size, frames, duration), read without decoding
    decoder.py   a clip's frames decoded in a child process with bounded memory, CPU time and no disk
    clips.py     one clip followed frame by frame into an annotated WebM, JSON lines, CSV and plot data
    handlers.py  the event handlers; the model and the detector, loaded on first use
    page.py      layout, CSS, texts, events; build_demo(), launch()

Importing this package loads neither Gradio nor the model: `build_demo`, `launch` and `demo` (the
process's one page, for `from fkp.demo import demo`) are looked up on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

if TYPE_CHECKING:
    from .page import build_demo, launch

__all__ = ["build_demo", "demo", "launch", "main"]


def _page():
    """fkp.demo.page, with a plain message where Gradio is not installed."""
    try:
        from . import page
    except ModuleNotFoundError as error:  # the demo is an optional part of an installed fkp
        if error.name != "gradio":
            raise
        raise ImportError(
            "the fkp demo needs Gradio: pip install 'fkp[demo]' (or pip install -r requirements.txt)"
        ) from error
    return page


def __getattr__(name: str) -> Any:
    if name in ("build_demo", "launch"):
        return getattr(_page(), name)
    if name == "demo":
        return _page().shared_demo()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None, prog: str = "python -m fkp.demo") -> int:
    """`fkp demo`: parse the options (at once; --help loads nothing), then load the model and serve."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description="Run the fkp Gradio demo.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    args = parser.parse_args(argv)
    _page().launch(server_name=args.host, server_port=args.port, share=args.share)
    return 0
