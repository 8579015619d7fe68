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
