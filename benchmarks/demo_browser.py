"""The demo as a person gets it, in headless Chromium on this machine: time from choosing a photo to
its results on screen, and the live webcam's frame rate with Chromium's fake camera.

    python benchmarks/demo_browser.py [--repeats 3]

Needs Debian's chromium (`apt install chromium`) and playwright (`pip install playwright`). The demo
runs in a subprocess (`python app.py`); the browser and the server share this machine's cores.
1. Upload: set the file on the photo input, wait until the status names the faces and the annotated
   image and the heatmaps have loaded; median over repeats, per photo.
2. Live: a 640x480 video of a photo (`fkp.tracking.write_y4m`) as the camera; after Record, count the
   distinct annotated frames the page shows over 10 seconds.
3. Video tab: a 10-second 640x346 clip at 30 frames a second (300 frames, VP8 WebM, two faces drifting);
   time from choosing it to the annotated clip ready to play and both plots drawn, and the server's own
   analysis time (the status line says it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from demo_attacks import clip_bytes  # noqa: E402
from demo_server import EXAMPLES, free_port, start_server  # noqa: E402

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--live-seconds", type=float, default=10.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from fkp.images import load_photo
    from fkp.tracking import write_y4m

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    video = Path(tempfile.mkdtemp()) / "face.y4m"
    write_y4m(video, load_photo(EXAMPLES / "grace_hopper.jpg"), frames=60)
    port = free_port()
    server = start_server(port)
    url = f"http://127.0.0.1:{port}/"
    print(f"command: python benchmarks/demo_browser.py --repeats {args.repeats} --live-seconds {args.live_seconds}")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium,
                headless=True,
                args=[
                    *ARGS,
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={video}",
                ],
            )
            page = browser.new_context(viewport={"width": 1366, "height": 900}, permissions=["camera"]).new_page()
            page.goto(url)
            print("\n1. upload to results on screen (median)")
            for name, expected in (
                ("grace_hopper.jpg", "1 face found"),
                ("two_faces.jpg", "2 faces found"),
                ("ten_faces.jpg", "10 faces found"),
            ):
                times = []
                for _ in range(args.repeats + 1):
                    page.locator("#photo button[aria-label='Remove Image']").first.click() if page.locator(
                        "#photo button[aria-label='Remove Image']"
                    ).count() else None
                    page.wait_for_function(
                        "!document.querySelector('#results') || "
                        "document.querySelector('#results').offsetParent === null"
                    )
                    start = time.perf_counter()
                    page.locator("#photo input[type=file]").set_input_files(str(EXAMPLES / name))
                    page.wait_for_function(
                        "document.querySelector('#status') && "
                        f"document.querySelector('#status').innerText.includes({json.dumps(expected)})"
                    )
                    page.wait_for_function(
                        "[...document.querySelectorAll('#annotated img, #heatmaps img')].length >= 2 && "
                        "[...document.querySelectorAll('#annotated img, #heatmaps img')]"
                        ".every(i => i.complete && i.naturalWidth > 0)"
                    )
                    times.append(time.perf_counter() - start)
                print(f"   {name:18s} {1000 * statistics.median(times[1:]):6.0f} ms")

            page.get_by_role("tab", name="Live webcam").click()
            page.locator("#camera").get_by_text("Click to Access Webcam").click()
            page.locator("#camera video").wait_for(state="visible")
            page.locator("#camera button").filter(has_text="Record").first.click()
            page.wait_for_function(
                "document.querySelector('#live img') && document.querySelector('#live img').src.length > 100",
                timeout=60_000,
            )
            page.wait_for_timeout(2000)
            # count the annotated frames the page shows, in the page itself (no sampling gaps)
            page.evaluate(
                "() => { window.fkpFrames = 0; const image = document.querySelector('#live img');\n"
                "                new MutationObserver(() => window.fkpFrames++)"
                ".observe(image, {attributes: true, attributeFilter: ['src']}); }"
            )
            page.wait_for_timeout(args.live_seconds * 1000)
            seen = page.evaluate("window.fkpFrames")
            status = page.locator("#live-status").inner_text().strip().splitlines()[-1]
            print(
                f"\n2. live webcam: {seen / args.live_seconds:.1f} annotated frames/s "
                f"shown over {args.live_seconds:.0f} s ({status})"
            )
            clip = Path(tempfile.mkdtemp()) / "two_faces.webm"
            clip.write_bytes(clip_bytes(300, (640, 346), fourcc="VP80", suffix=".webm", fps=30))
            page.close()  # ends the webcam stream, which would share the cores with the clip
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(url)
            page.get_by_role("tab", name="Video").click()
            start = time.perf_counter()
            page.locator("#clip input[type=file]").set_input_files(str(clip))
            page.wait_for_function(
                "document.querySelector('#video-status') && "
                "document.querySelector('#video-status').innerText.includes('followed')",
                timeout=300_000,
            )
            page.wait_for_function(
                "(() => { const v = document.querySelector('#video-annotated video');"
                " return v && v.readyState >= 2 && v.duration > 0 && "
                "document.querySelectorAll('#plot-x svg, #plot-x canvas, #plot-y svg, #plot-y canvas').length >= 2;"
                " })()",
                timeout=60_000,
            )
            status = page.locator("#video-status").inner_text().strip().splitlines()[0]
            print(
                f"\n3. video tab, 300-frame 640x346 clip: results on screen after {time.perf_counter() - start:.1f} s"
            )
            print(f"   {status}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
