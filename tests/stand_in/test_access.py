"""Tokens: private repos, writes with checked tokens, whoami, and never printing one."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalTokenNotFoundError,
    RepositoryNotFoundError,
)

from ..hub_stand_in import INVALID_CREDENTIALS, HubStandIn
from .files import write_folder

# tests/conftest.py points huggingface_hub at the shared stand-in and provides `hub`.


def test_private_repo_needs_a_valid_token(hub: HubStandIn, api: HfApi, tmp_path: Path):
    hub.valid_tokens = {"hf_good"}
    api.create_repo("tester/secret", private=True, token="hf_good")
    assert hub.repo("tester/secret").private
    folder = write_folder(tmp_path / "up", {"weights.bin": b"\x01\x02"})
    api.upload_folder(folder_path=folder, repo_id="tester/secret", token="hf_good")

    # No token: the Hub answers 401 RepoNotFound, as if the repo did not exist.
    with pytest.raises(RepositoryNotFoundError) as info:
        api.model_info("tester/secret")
    assert info.value.response.status_code == 401
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("tester/secret", "weights.bin", cache_dir=tmp_path / "c")
    # A wrong token is refused as such (a plain HfHubHTTPError, not RepositoryNotFoundError).
    with pytest.raises(HfHubHTTPError) as info:
        api.model_info("tester/secret", token="hf_bad")
    assert not isinstance(info.value, RepositoryNotFoundError)
    assert info.value.response.status_code == 401
    assert INVALID_CREDENTIALS in str(info.value)

    assert api.model_info("tester/secret", token="hf_good").private is True
    path = hf_hub_download(
        "tester/secret", "weights.bin", cache_dir=tmp_path / "c", token="hf_good"
    )
    assert Path(path).read_bytes() == b"\x01\x02"
    assert hub.tokens_seen == {"hf_good", "hf_bad"}
    assert None in hub.authorization_headers


def test_token_from_hf_token_environment_variable(hub, api, monkeypatch, tmp_path):
    hub.valid_tokens = {"hf_env"}
    monkeypatch.setenv("HF_TOKEN", "hf_env")  # read by the client at each call
    api.create_repo("tester/env-token")
    assert api.whoami()["name"] == "tester"
    assert set(hub.authorization_headers) == {"Bearer hf_env"}


def test_writes_need_a_valid_token_when_tokens_are_checked(hub: HubStandIn, api: HfApi, tmp_path):
    hub.valid_tokens = {"hf_good"}
    with pytest.raises(HfHubHTTPError) as info:
        api.create_repo("tester/no-token")
    assert info.value.response.status_code == 401
    assert info.value.response.headers["X-Error-Message"] == INVALID_CREDENTIALS
    assert not hub.repo_exists("tester/no-token")

    api.create_repo("tester/writable", token="hf_good")
    folder = write_folder(tmp_path / "up", {"a.txt": "a"})
    with pytest.raises(HfHubHTTPError) as info:
        api.upload_folder(folder_path=folder, repo_id="tester/writable", token="hf_bad")
    assert info.value.response.status_code == 401
    assert list(hub.files("tester/writable")) == [".gitattributes"]


def test_whoami(hub: HubStandIn, api: HfApi):
    hub.valid_tokens = {"hf_good"}
    assert api.whoami(token="hf_good")["name"] == "tester"
    assert api.whoami(token="hf_good")["type"] == "user"
    with pytest.raises(HfHubHTTPError, match="Invalid user token") as info:
        api.whoami(token="hf_bad")
    assert info.value.response.status_code == 401
    # Without any token the client refuses before sending anything.
    before = len(hub.requests)
    with pytest.raises(LocalTokenNotFoundError):
        api.whoami()
    assert len(hub.requests) == before


def test_never_prints_requests_or_tokens(hub: HubStandIn, api: HfApi, capfd):
    hub.valid_tokens = {"hf_do_not_print"}
    api.whoami(token="hf_do_not_print")
    with pytest.raises(HfHubHTTPError):
        api.whoami(token="hf_wrong_do_not_print")
    out, err = capfd.readouterr()
    assert "do_not_print" not in out + err
    assert "whoami" not in out + err
