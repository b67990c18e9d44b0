"""The Hub stand-in (tests/hub_stand_in/) driven by the real huggingface_hub client.

These tests prove that the stand-in answers what huggingface_hub 2.4 actually sends, so that
tests of vae_hub's publishing code can rely on it. Nothing in huggingface_hub is patched: the
client reaches the stand-in through HF_ENDPOINT, set before huggingface_hub is first imported
(by tests/conftest.py, or by the guarded call below when this module runs on its own).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import httpx2  # the client's HTTP library (its connection errors are httpx2's)
import pytest
from huggingface_hub import HfApi, ModelHubMixin, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalTokenNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .hub_stand_in import INVALID_CREDENTIALS, HubStandIn, git_blob_sha1

# tests/conftest.py points huggingface_hub at the shared stand-in and provides `hub`.

README = """---
license: mit
tags:
- vae
- mnist
library_name: vae-hub
---

# A tiny model

Used by the Hub stand-in tests.
"""

SPACE_README = """---
title: VAE demo
emoji: 🎨
colorFrom: blue
colorTo: green
sdk: gradio
sdk_version: 6.31.0
app_file: app.py
pinned: false
---
"""


def write_folder(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return root


MODEL_FILES: dict[str, bytes | str] = {
    "README.md": README,
    "config.json": json.dumps({"latent_dim": 4, "hidden_dim": 32}),
    "model.safetensors": bytes(range(256)) * 40,
    "samples/grid.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
}


def as_bytes(files: dict[str, bytes | str]) -> dict[str, bytes]:
    return {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}


@pytest.fixture
def api(hub: HubStandIn) -> HfApi:
    return HfApi()  # default endpoint: HF_ENDPOINT, i.e. the stand-in


@pytest.fixture
def uploaded(hub: HubStandIn, api: HfApi, tmp_path: Path):
    """tester/tiny-vae holding MODEL_FILES, uploaded with upload_folder; returns its CommitInfo."""
    api.create_repo("tester/tiny-vae")
    folder = write_folder(tmp_path / "upload", MODEL_FILES)
    return api.upload_folder(folder_path=folder, repo_id="tester/tiny-vae", commit_message="Add")


def test_the_client_is_pointed_at_the_stand_in(hub: HubStandIn):
    from huggingface_hub import constants

    assert hub.url == constants.ENDPOINT
    assert constants.HUGGINGFACE_CO_URL_TEMPLATE.startswith(hub.url + "/")
    assert constants.HF_HUB_DISABLE_XET  # every file is a plain "regular" git file
    assert Path(constants.HF_HOME).name.startswith("hub-stand-in-hf-home-")


def test_create_repo_new_then_existing(hub: HubStandIn, api: HfApi):
    url = api.create_repo("tester/new-model")
    assert url == f"{hub.url}/tester/new-model"
    assert url.repo_id == "tester/new-model"
    assert hub.repo_exists("tester/new-model")
    assert not hub.repo("tester/new-model").private
    # Like the Hub, a new repo has an initial commit holding .gitattributes.
    assert list(hub.files("tester/new-model")) == [".gitattributes"]

    with pytest.raises(HfHubHTTPError) as info:
        api.create_repo("tester/new-model")
    assert info.value.response.status_code == 409
    # exist_ok=True reads the "url" of the 409 answer.
    assert api.create_repo("tester/new-model", exist_ok=True) == url
    assert hub.requests.count(("POST", "/api/repos/create")) == 3

    # A name without a namespace lands in the user's namespace.
    assert api.create_repo("bare", private=True).repo_id == "tester/bare"
    assert hub.repo("tester/bare").private


def test_upload_folder_and_read_it_back(hub: HubStandIn, api: HfApi, uploaded, tmp_path: Path):
    assert uploaded.oid == hub.commits("tester/tiny-vae")[-1]
    assert uploaded.commit_url == f"{hub.url}/tester/tiny-vae/commit/{uploaded.oid}"
    assert hub.repo("tester/tiny-vae").head.title == "Add"
    assert hub.files("tester/tiny-vae") == {
        ".gitattributes": hub.files("tester/tiny-vae")[".gitattributes"],
        **as_bytes(MODEL_FILES),
    }
    # README.md front matter is validated before anything is hashed or uploaded.
    assert ("POST", "/api/validate-yaml") in hub.requests
    assert hub.requests[-2:] == [
        ("POST", "/api/models/tester/tiny-vae/preupload/main"),
        ("POST", "/api/models/tester/tiny-vae/commit/main"),
    ]

    expected_files = sorted([".gitattributes", *MODEL_FILES])
    info = api.model_info("tester/tiny-vae")
    assert (info.id, info.sha, info.private) == ("tester/tiny-vae", uploaded.oid, False)
    assert sorted(s.rfilename for s in info.siblings) == expected_files
    assert api.repo_info("tester/tiny-vae").sha == uploaded.oid
    blobs = {
        s.rfilename: s for s in api.model_info("tester/tiny-vae", files_metadata=True).siblings
    }
    assert blobs["config.json"].size == len(as_bytes(MODEL_FILES)["config.json"])
    assert blobs["config.json"].blob_id == git_blob_sha1(as_bytes(MODEL_FILES)["config.json"])

    assert sorted(api.list_repo_files("tester/tiny-vae")) == expected_files
    assert api.file_exists("tester/tiny-vae", "samples/grid.png")
    assert not api.file_exists("tester/tiny-vae", "missing.bin")

    path = hf_hub_download("tester/tiny-vae", "model.safetensors", cache_dir=tmp_path / "c1")
    assert Path(path).read_bytes() == MODEL_FILES["model.safetensors"]
    assert f"/snapshots/{uploaded.oid}/" in Path(path).as_posix()

    snapshot = Path(snapshot_download("tester/tiny-vae", cache_dir=tmp_path / "c2"))
    got = {
        p.relative_to(snapshot).as_posix(): p.read_bytes()
        for p in snapshot.rglob("*")
        if p.is_file()
    }
    assert sorted(got) == expected_files
    assert {k: v for k, v in got.items() if k in MODEL_FILES} == as_bytes(MODEL_FILES)


def test_tree_listing_paths_info_and_upload_file(hub: HubStandIn, api: HfApi, uploaded):
    top = {entry.path: type(entry).__name__ for entry in api.list_repo_tree("tester/tiny-vae")}
    assert top["samples"] == "RepoFolder"
    assert top["config.json"] == "RepoFile"
    assert "samples/grid.png" not in top  # not recursive
    inside = [e.path for e in api.list_repo_tree("tester/tiny-vae", path_in_repo="samples")]
    assert inside == ["samples/grid.png"]
    infos = api.get_paths_info("tester/tiny-vae", ["config.json", "samples", "nope"])
    assert {i.path: type(i).__name__ for i in infos} == {
        "config.json": "RepoFile",
        "samples": "RepoFolder",
    }

    commit = api.upload_file(
        path_or_fileobj=b"new bytes",
        path_in_repo="extra/notes.txt",
        repo_id="tester/tiny-vae",
        commit_message="Add notes",
        commit_description="Longer text",
    )
    assert hub.files("tester/tiny-vae")["extra/notes.txt"] == b"new bytes"
    head = hub.repo("tester/tiny-vae").head
    assert (head.oid, head.title, head.description) == (commit.oid, "Add notes", "Longer text")
    sent = [c for c in hub.calls if c.endpoint == "commit"][-1].json()
    assert sent[0] == {
        "key": "header",
        "value": {"summary": "Add notes", "description": "Longer text"},
    }
    assert [(line["key"], line["value"]["path"]) for line in sent[1:]] == [
        ("file", "extra/notes.txt")
    ]


def test_create_payload_is_recorded(hub: HubStandIn, api: HfApi):
    api.create_repo("tester/p", private=True)
    api.create_repo("tester/s", repo_type="space", space_sdk="gradio")
    sent = [c.json() for c in hub.calls if c.endpoint == "create"]
    assert sent == [
        {"name": "p", "organization": "tester", "visibility": "private"},
        {"name": "s", "organization": "tester", "type": "space", "sdk": "gradio"},
    ]


def test_invalid_readme_metadata(hub: HubStandIn, api: HfApi, tmp_path: Path):
    # The stand-in cannot parse YAML; a test makes validate-yaml refuse a card like the Hub does.
    api.create_repo("tester/card")
    hub.fail("validate-yaml", 400, body={"errors": [{"message": "license must be a string"}]})
    folder = write_folder(tmp_path / "up", {"README.md": "---\nlicense: [1]\n---\n"})
    with pytest.raises(ValueError, match="license must be a string"):
        api.upload_folder(folder_path=folder, repo_id="tester/card")
    assert list(hub.files("tester/card")) == [".gitattributes"]


def test_unhandled_requests_answer_400_and_are_recorded(hub: HubStandIn):
    hub.add_repo("tester/raw")
    request = urllib.request.Request(
        f"{hub.url}/api/models/tester/raw/commit/main", data=b"not json\n", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 400
    assert "could not handle" in json.load(info.value)["error"]
    assert len(hub.errors) == 1 and "JSONDecodeError" in hub.errors[0]
    hub.errors.clear()  # else the `hub` fixture fails this test at teardown


def test_revision_is_a_commit_sha(hub: HubStandIn, api: HfApi, uploaded, tmp_path: Path):
    folder = write_folder(tmp_path / "v2", {**MODEL_FILES, "config.json": '{"latent_dim": 8}'})
    second = api.upload_folder(folder_path=folder, repo_id="tester/tiny-vae")
    assert second.oid != uploaded.oid
    assert hub.commits("tester/tiny-vae")[-2:] == [uploaded.oid, second.oid]
    assert [c.endpoint for c in hub.calls].count("commit") == 2

    old = hf_hub_download(
        "tester/tiny-vae", "config.json", revision=uploaded.oid, cache_dir=tmp_path / "c"
    )
    new = hf_hub_download("tester/tiny-vae", "config.json", cache_dir=tmp_path / "c")
    assert Path(old).read_bytes() == as_bytes(MODEL_FILES)["config.json"]
    assert Path(new).read_bytes() == b'{"latent_dim": 8}'
    assert api.model_info("tester/tiny-vae", revision=uploaded.oid).sha == uploaded.oid
    snapshot = snapshot_download(
        "tester/tiny-vae", revision=uploaded.oid, cache_dir=tmp_path / "c3"
    )
    assert (Path(snapshot) / "config.json").read_bytes() == as_bytes(MODEL_FILES)["config.json"]


def test_unchanged_upload_makes_no_commit(hub: HubStandIn, api: HfApi, uploaded, tmp_path):
    folder = write_folder(tmp_path / "same", MODEL_FILES)
    again = api.upload_folder(folder_path=folder, repo_id="tester/tiny-vae")
    assert again.oid == uploaded.oid
    assert hub.commits("tester/tiny-vae")[-1] == uploaded.oid
    assert ("POST", "/api/models/tester/tiny-vae/commit/main") not in hub.requests[-3:]


def test_upload_folder_can_delete_remote_files(hub: HubStandIn, api: HfApi, uploaded, tmp_path):
    folder = write_folder(tmp_path / "only-config", {"config.json": "{}"})
    api.upload_folder(folder_path=folder, repo_id="tester/tiny-vae", delete_patterns="samples/*")
    files = hub.files("tester/tiny-vae")
    assert "samples/grid.png" not in files
    assert files["config.json"] == b"{}"
    assert files["model.safetensors"] == MODEL_FILES["model.safetensors"]


def test_missing_revision_file_and_repo(hub: HubStandIn, api: HfApi, uploaded, tmp_path):
    with pytest.raises(RevisionNotFoundError):
        api.model_info("tester/tiny-vae", revision="v9")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("tester/tiny-vae", "config.json", revision="v9", cache_dir=tmp_path)
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("tester/tiny-vae", "nope.bin", cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("tester/does-not-exist")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("tester/does-not-exist", "config.json", cache_dir=tmp_path)
    assert not api.repo_exists("tester/does-not-exist")
    assert api.repo_exists("tester/tiny-vae")


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


def test_space_create_upload_download(hub: HubStandIn, api: HfApi, tmp_path: Path):
    url = api.create_repo("tester/vae-demo", repo_type="space", space_sdk="gradio")
    assert url == f"{hub.url}/spaces/tester/vae-demo"
    assert hub.repo_exists("tester/vae-demo", repo_type="space")
    assert not hub.repo_exists("tester/vae-demo")  # models and spaces are separate namespaces
    files = {"README.md": SPACE_README, "app.py": "import gradio as gr\n", "requirements.txt": ""}
    folder = write_folder(tmp_path / "space", files)
    commit = api.upload_folder(folder_path=folder, repo_id="tester/vae-demo", repo_type="space")
    assert commit.commit_url.startswith(f"{hub.url}/spaces/tester/vae-demo/commit/")
    assert hub.files("tester/vae-demo", repo_type="space")["requirements.txt"] == b""

    info = api.space_info("tester/vae-demo")
    assert (info.id, info.sdk, info.sha) == ("tester/vae-demo", "gradio", commit.oid)
    assert api.repo_info("tester/vae-demo", repo_type="space").sha == commit.oid
    path = hf_hub_download("tester/vae-demo", "app.py", repo_type="space", cache_dir=tmp_path / "c")
    assert Path(path).read_text() == files["app.py"]
    assert ("GET", "/spaces/tester/vae-demo/resolve/main/app.py") in hub.requests
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("tester/vae-demo")


def test_dataset_repos_work_too(hub: HubStandIn, api: HfApi, tmp_path: Path):
    hub.add_repo("tester/digits", {"data/train.csv": "x,y\n1,2\n"}, repo_type="dataset")
    assert api.list_repo_files("tester/digits", repo_type="dataset") == [
        ".gitattributes",
        "data/train.csv",
    ]
    path = hf_hub_download(
        "tester/digits", "data/train.csv", repo_type="dataset", cache_dir=tmp_path
    )
    assert Path(path).read_text() == "x,y\n1,2\n"


def test_model_hub_mixin_push_and_from_pretrained(hub: HubStandIn, tmp_path: Path):
    class Counter(ModelHubMixin, library_name="vae-hub-tests", tags=["stand-in"]):
        def __init__(self, start: int = 0, step: int = 1):
            self.start, self.step = start, step

        def _save_pretrained(self, save_directory: Path) -> None:
            (save_directory / "state.txt").write_text(f"{self.start}")

        @classmethod
        def _from_pretrained(cls, *, model_id, revision, cache_dir, force_download, **kwargs):
            model = cls(**{k: v for k, v in kwargs.items() if k in ("start", "step")})
            state = hf_hub_download(model_id, "state.txt", revision=revision, cache_dir=cache_dir)
            model.start = int(Path(state).read_text())
            return model

    Counter(start=7, step=3).push_to_hub("tester/counter", commit_message="First push")
    assert set(hub.files("tester/counter")) == {
        ".gitattributes",
        "README.md",
        "config.json",
        "state.txt",
    }
    assert json.loads(hub.files("tester/counter")["config.json"]) == {"start": 7, "step": 3}
    assert b"stand-in" in hub.files("tester/counter")["README.md"]
    loaded = Counter.from_pretrained("tester/counter", cache_dir=tmp_path / "cache")
    assert (loaded.start, loaded.step) == (7, 3)


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


def test_resolve_headers_and_ranges(hub: HubStandIn):
    """The raw protocol of /resolve, which hf_hub_download depends on."""
    content = b"0123456789"
    hub.add_repo("tester/raw", {"d/f.bin": content})
    head_oid = hub.commits("tester/raw")[-1]
    request = urllib.request.Request(f"{hub.url}/tester/raw/resolve/main/d/f.bin", method="HEAD")
    with urllib.request.urlopen(request) as response:
        assert response.headers["X-Repo-Commit"] == head_oid
        assert response.headers["ETag"] == f'"{git_blob_sha1(content)}"'
        assert response.headers["Content-Length"] == "10"
        assert response.read() == b""
    ranged = urllib.request.Request(
        f"{hub.url}/tester/raw/resolve/{head_oid}/d/f.bin", headers={"Range": "bytes=4-"}
    )
    with urllib.request.urlopen(ranged) as response:
        assert response.status == 206
        assert response.read() == b"456789"
        assert response.headers["Content-Range"] == "bytes 4-9/10"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{hub.url}/tester/raw/resolve/main/missing")
    assert info.value.code == 404
    assert info.value.headers["X-Error-Code"] == "EntryNotFound"
    assert info.value.headers["X-Repo-Commit"] == head_oid


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


def test_never_prints_requests_or_tokens(hub: HubStandIn, api: HfApi, capfd):
    hub.valid_tokens = {"hf_do_not_print"}
    api.whoami(token="hf_do_not_print")
    with pytest.raises(HfHubHTTPError):
        api.whoami(token="hf_wrong_do_not_print")
    out, err = capfd.readouterr()
    assert "do_not_print" not in out + err
    assert "whoami" not in out + err
