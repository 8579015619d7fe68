import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# A small but real configuration for fast training tests.
TINY = ["--model_config", "fkp", "--num_stacks", "1", "--depth", "3", "--channels", "32"]

# The demo in a browser (tests/test_app.py, tests/test_demo_video.py): Debian's Chromium, driven by Playwright.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="Debian chromium not installed (.ci/run installs it)"
)
SCREENSHOTS = Path(os.environ.get("FKP_SCREENSHOTS", "/tmp/fkp_screenshots"))
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


def browser_args(*extra: str) -> list[str]:
    """Chromium's command line for the tests: headless-friendly, no network of its own."""
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        *extra,
    ]


@pytest.fixture(scope="module")
def app():
    """The demo's event handlers (importing them loads Gradio; the model loads on first use)."""
    from fkp.demo import handlers

    return handlers


@pytest.fixture(scope="module")
def server():
    """The demo served on a free local port, for HTTP clients and the browser."""
    import fkp.demo

    fkp.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True)
    yield fkp.demo.demo.local_url
    fkp.demo.demo.close()


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """A tiny model trained for a few epochs on the real-face fixture frames (exported folder)."""
    from train import main, parse_args

    out = tmp_path_factory.mktemp("trained")
    summary = main(
        parse_args(
            [
                "--dataset",
                str(FIXTURES / "frames.parquet"),
                "--output_dir",
                str(out),
                *TINY,
                "--epochs",
                "6",
                "--batch_size",
                "8",
                "--learning_rate",
                "3e-3",
                "--warmup_steps",
                "5",
                "--val_fraction",
                "0.25",
            ]
        )
    )
    (out / "summary_for_tests.json").write_text(__import__("json").dumps(summary))
    return out


@pytest.fixture
def ytf_copy(tmp_path) -> Path:
    """A writable copy of the ytf68-layout fixture folder."""
    target = tmp_path / "ytf"
    shutil.copytree(FIXTURES / "ytf68", target)
    return target


@pytest.fixture(autouse=True)
def one_address_for_every_test_client(monkeypatch):
    """Every test client comes from 127.0.0.1, so the demo's per-address upload rate (meant for one
    visitor) would throttle the suite; tests/test_demo_security.py checks that limit on its own."""
    from fkp.demo import limits

    monkeypatch.setattr(limits, "UPLOADS_PER_MINUTE", 10_000)
