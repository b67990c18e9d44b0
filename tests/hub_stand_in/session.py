"""Sharing one stand-in for a whole pytest session: the environment huggingface_hub must
see before it is imported, and the `hub` fixture."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

from .server import HubStandIn

_SESSION_HUB: HubStandIn | None = None
_CONFIGURED_URL: str | None = None


def start_session_hub() -> HubStandIn:
    """The one stand-in shared by the whole test session, started on first call."""
    global _SESSION_HUB
    if _SESSION_HUB is None:
        _SESSION_HUB = HubStandIn()
        atexit.register(_SESSION_HUB.stop)
    return _SESSION_HUB.start()


_TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_STORED_TOKENS_PATH")
_CACHE_VARIABLES = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ASSETS_CACHE", "HF_XET_CACHE")


def configure_environment(url: str) -> None:
    """Point ``huggingface_hub`` (not yet imported) at ``url``; idempotent.

    Sets HF_ENDPOINT, HF_HUB_DISABLE_XET=1, HF_HUB_DISABLE_TELEMETRY=1,
    HF_HUB_DISABLE_PROGRESS_BARS=1, HF_HUB_DISABLE_UPDATE_CHECK=1 and a fresh HF_HOME (removed
    at exit); removes HF_TOKEN, HF_HUB_OFFLINE and other variables that would make the client
    use the developer's token, cache or another Hub. Raises RuntimeError if huggingface_hub was
    already imported with another endpoint (it reads these variables once, at import).
    """
    global _CONFIGURED_URL
    url = url.rstrip("/")
    if url == _CONFIGURED_URL:
        return
    if "huggingface_hub.constants" in sys.modules and (problem := endpoint_problem(url)):
        raise RuntimeError(problem)
    home = tempfile.mkdtemp(prefix="hub-stand-in-hf-home-")
    atexit.register(shutil.rmtree, home, True)
    for name in (*_TOKEN_VARIABLES, *_CACHE_VARIABLES, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "HF_ENDPOINT": url,
            "HF_HOME": home,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        }
    )
    _CONFIGURED_URL = url


def endpoint_problem(url: str) -> str | None:
    """Why ``huggingface_hub`` would not talk to the stand-in at ``url``, or None if it will.

    ``huggingface_hub`` itself imports lazily: what counts is whether ``huggingface_hub.constants``
    was loaded, and with which HF_ENDPOINT.
    """
    url = url.rstrip("/")
    module = sys.modules.get("huggingface_hub.constants")
    if module is None:
        current = os.environ.get("HF_ENDPOINT", "").rstrip("/")
        return None if current == url else _too_late(url, current or "https://huggingface.co")
    if url != module.ENDPOINT or not module.HUGGINGFACE_CO_URL_TEMPLATE.startswith(url + "/"):
        return _too_late(url, module.ENDPOINT)
    if not module.HF_HUB_DISABLE_XET:
        return f"huggingface_hub was imported without HF_HUB_DISABLE_XET=1 (stand-in at {url})"
    return None


def _too_late(url: str, current: str) -> str:
    return (
        f"huggingface_hub talks to {current!r}, not to the Hub stand-in at {url!r}: call "
        "configure_environment(start_session_hub().url) at the top of tests/conftest.py, before "
        "anything imports huggingface_hub or vae_hub."
    )


def hub_fixture() -> Iterator[HubStandIn]:
    """Body of the function-scoped ``hub`` fixture: the shared stand-in, reset and running.

    The test fails at teardown if the stand-in met a request it could not handle (``errors``).

    Re-export it from conftest with ``hub = pytest.fixture(hub_fixture)``.
    """
    shared = start_session_hub()  # restarts on the same port if a test stopped it
    problem = endpoint_problem(shared.url)
    if problem is not None:
        import pytest

        pytest.fail(problem)
    shared.reset()
    try:
        yield shared
        if shared.errors:  # a test that provokes these on purpose clears hub.errors itself
            import pytest

            pytest.fail("the Hub stand-in could not handle a request:\n" + shared.errors[0])
    finally:
        shared.start()
        shared.reset()
