"""Failures on purpose: injected answers, a stopped Hub, restarts and resets."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import httpx2  # the client's HTTP library (its connection errors are httpx2's)
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
)

from ..hub_stand_in import HubStandIn
from .files import write_folder

# tests/conftest.py points huggingface_hub at the shared stand-in and provides `hub`.


@pytest.mark.parametrize("status", [401, 403, 404, 500])
def test_create_repo_failures(hub: HubStandIn, api: HfApi, status: int):
    failure = hub.fail("create", status)
    with pytest.raises(HfHubHTTPError) as info:
        api.create_repo("tester/refused")
    assert info.value.response.status_code == status
    # Without X-Error-Code these stay plain HfHubHTTPError (the 401 -> RepositoryNotFoundError
    # guess of the client only applies to https:// Hub URLs).
    assert type(info.value) is HfHubHTTPError
    assert failure.hits == 1  # create_repo does not retry, not even on 5xx
    assert not hub.repo_exists("tester/refused")


def test_injected_error_code_selects_the_client_exception(hub: HubStandIn, api: HfApi):
    hub.fail("info", 404, error_code="RepoNotFound", times=1)
    hub.add_repo("tester/there")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("tester/there")
    assert api.model_info("tester/there").id == "tester/there"  # times=1: answered once


def test_create_repo_exist_ok_survives_403_when_the_repo_exists(hub: HubStandIn, api: HfApi):
    # With exist_ok=True the client answers 401/402/403 from create by checking repo_info.
    hub.add_repo("tester/mine")
    hub.fail("create", 403)
    assert api.create_repo("tester/mine", exist_ok=True) == f"{hub.url}/tester/mine"
    with pytest.raises(HfHubHTTPError) as info:
        api.create_repo("tester/not-mine", exist_ok=True)
    assert info.value.response.status_code == 403


def test_commit_answering_500_raises(hub: HubStandIn, api: HfApi, tmp_path: Path):
    api.create_repo("tester/broken")
    failure = hub.fail("commit", 500)
    folder = write_folder(tmp_path / "up", {"a.txt": "a"})
    with pytest.raises(HfHubHTTPError) as info:
        api.upload_folder(folder_path=folder, repo_id="tester/broken")
    assert info.value.response.status_code == 500
    assert failure.hits == 1  # the commit POST of create_commit is not retried
    assert list(hub.files("tester/broken")) == [".gitattributes"]


def test_preupload_500_is_retried_by_the_client(hub: HubStandIn, api: HfApi, tmp_path: Path):
    # preupload goes through http_backoff: a 5xx is retried after 1 s (then 2, 4, 8, 8 s), so
    # an always-failing preupload would take ~23 s to raise. One failure is enough here.
    api.create_repo("tester/flaky")
    failure = hub.fail("preupload", 503, times=1)
    folder = write_folder(tmp_path / "up", {"a.txt": "a"})
    api.upload_folder(folder_path=folder, repo_id="tester/flaky")
    assert failure.hits == 1
    assert hub.requests.count(("POST", "/api/models/tester/flaky/preupload/main")) == 2
    assert hub.files("tester/flaky")["a.txt"] == b"a"


def test_regex_failure_target(hub: HubStandIn, api: HfApi, uploaded, tmp_path: Path):
    hub.fail(r"^HEAD /tester/tiny-vae/resolve/main/config\.json$", 404, error_code="EntryNotFound")
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("tester/tiny-vae", "config.json", cache_dir=tmp_path)
    hub.clear_failures()
    assert Path(hf_hub_download("tester/tiny-vae", "config.json", cache_dir=tmp_path)).is_file()


def test_stopped_hub_refuses_connections(hub: HubStandIn, api: HfApi, uploaded, tmp_path):
    cached = hf_hub_download("tester/tiny-vae", "config.json", cache_dir=tmp_path)
    hub.stop()
    # HfApi calls surface the transport error itself: httpx2.ConnectError ("[Errno 111]
    # Connection refused"), which is neither an HfHubHTTPError nor an OSError.
    with pytest.raises(httpx2.ConnectError):
        api.model_info("tester/tiny-vae")
    with pytest.raises(httpx2.ConnectError):
        api.create_repo("tester/while-down")
    # hf_hub_download falls back to the cache at once when the file is there...
    assert hf_hub_download("tester/tiny-vae", "config.json", cache_dir=tmp_path) == cached
    # ...and with nothing cached raises huggingface_hub.errors.LocalEntryNotFoundError, but only
    # after retrying the HEAD with backoff for ~23 s (checked by hand; too slow for the suite).
    # Uploads are slow to fail too: preupload retries connection errors the same way.

    hub.start()  # the same port and state: the client needs no reconfiguration
    assert api.model_info("tester/tiny-vae").sha == uploaded.oid


def test_hub_fixture_restarts_a_stopped_hub(hub: HubStandIn):
    # Runs after test_stopped_hub_refuses_connections in file order; must pass on its own too.
    assert hub.running
    assert hub.requests == []
    with pytest.raises(urllib.error.HTTPError) as info:  # an answer, not a refused connection
        urllib.request.urlopen(f"{hub.url}/api/models/tester/nothing")
    assert info.value.code == 401
    assert info.value.headers["X-Error-Code"] == "RepoNotFound"


def test_separate_instance_as_context_manager():
    with HubStandIn(valid_tokens={"t"}) as other:
        assert other.url.startswith("http://127.0.0.1:")
        other.add_repo("someone/thing", {"a": b"b"})
        assert other.files("someone/thing")["a"] == b"b"
        with urllib.request.urlopen(f"{other.url}/someone/thing/resolve/main/a") as response:
            assert response.read() == b"b"
        url = other.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/api/whoami-v2", timeout=5)


def test_reset_forgets_everything(hub: HubStandIn, api: HfApi):
    hub.valid_tokens = {"x"}
    hub.add_repo("tester/old")
    hub.fail("create", 500)
    api.whoami(token="x")
    hub.reset()
    assert hub.valid_tokens is None
    assert not hub.repo_exists("tester/old")
    assert hub.requests == []
    api.create_repo("tester/fresh")  # no failure left
