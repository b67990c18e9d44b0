"""Shared fixtures: the small real-MNIST subset in tests/data and one tiny trained model."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from .hub_stand_in import configure_environment, hub_fixture, start_session_hub

# Before anything imports huggingface_hub (vae_hub does): point it at the local stand-in.
configure_environment(start_session_hub().url)
hub = pytest.fixture(hub_fixture)

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

TESTS = Path(__file__).parent
ROOT = TESTS.parent
DATA_DIR = TESTS / "data"
FULL_MNIST = Path(os.environ.get("VAE_HUB_FULL_MNIST", ROOT.parent / "shared" / "data"))

TINY = dict(
    arch="conv",
    channels=4,
    hidden_dim=32,
    latent_dim=4,
    batch_size=64,
    lr=3e-3,
    epochs=2,
    latent_map_points=60,
    eval="smoke",
    progress=False,
    download=False,
    decoder_onnx=False,  # tests/test_onnx.py: a run's final/ with it
    data_dir=str(DATA_DIR),
)


def tiny_config(tmp_path: Path, **overrides):
    from vae_hub.training.options import TrainConfig

    return TrainConfig(**{**TINY, "output_dir": str(tmp_path), **overrides})


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory) -> Path:
    """A tiny conv VAE trained for two epochs on the test subset, with its final/ folder."""
    from vae_hub.training.loop import run

    # with its decoder.onnx, as a user's run (the other tests' runs leave it out: seconds each)
    runs = tmp_path_factory.mktemp("runs")
    result = run(tiny_config(runs, exp_name="tiny", decoder_onnx=True))
    assert result.final_dir is not None
    return result.final_dir


@pytest.fixture
def trained_model(trained_model_dir):
    from vae_hub import VAE

    return VAE.from_pretrained(trained_model_dir)


@pytest.fixture(scope="session")
def test_split():
    from vae_hub.files.mnist import load_mnist

    return load_mnist(DATA_DIR, train=False, download=False)


def full_mnist_or_skip() -> Path:
    if not (FULL_MNIST / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.skip(f"full MNIST not found at {FULL_MNIST} (set VAE_HUB_FULL_MNIST)")
    return FULL_MNIST


@pytest.fixture(scope="session")
def server(trained_model_dir):
    """The demo for the tiny model, served in this process on a free port; its URL.

    With VAE_HUB_DOCS_SCREENSHOTS=1 it serves the bundled model instead, so the README's
    screenshots show the digits a user will see."""
    from vae_hub import VAE
    from vae_hub.cli.loadtest import free_port
    from vae_hub.demo.page import build_demo, launch_kwargs, queued
    from vae_hub.files.bundled import bundled_model_path

    folder = trained_model_dir
    if os.environ.get("VAE_HUB_DOCS_SCREENSHOTS") == "1":
        folder = bundled_model_path()
    model = VAE.from_pretrained(folder)
    demo = queued(build_demo(model, str(folder), loadtest=True))
    demo.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        **launch_kwargs(demo),
    )
    yield demo.local_url
    demo.close()


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


# The TINY networks and data as command-line flags, for runs in a subprocess.
TINY_FLAGS = [
    "--data-dir", str(DATA_DIR), "--no-download", "--channels", str(TINY["channels"]),
    "--hidden-dim", str(TINY["hidden_dim"]), "--latent-dim", str(TINY["latent_dim"]),
    "--no-progress", "--no-decoder-onnx",
]  # fmt: skip


def train_cmd(tmp_path, *extra):
    """`python train.py` of a tiny model in tmp_path/long, for runs in a subprocess."""
    return [
        sys.executable, str(ROOT / "train.py"), *TINY_FLAGS, "--output-dir", str(tmp_path),
        "--exp-name", "long", "--batch-size", "32", "--latent-map-points", "0",
        "--eval", "none",  # these tests are about stopping and resuming; evaluation has its own
        *extra,
    ]  # fmt: skip


def wait_for(path, timeout=120):
    """Block until `path` exists (a subprocess run got that far)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
