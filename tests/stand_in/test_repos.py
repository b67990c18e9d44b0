"""Repos and files: create, upload, list, download, revisions; Spaces, datasets and
ModelHubMixin; what the stand-in answers to requests it does not know."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from huggingface_hub import HfApi, ModelHubMixin, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from ..hub_stand_in import HubStandIn, git_blob_sha1
from .files import MODEL_FILES, SPACE_README, as_bytes, write_folder

# tests/conftest.py points huggingface_hub at the shared stand-in and provides `hub`.


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
