"""Fixtures of the stand-in tests: a client at the stand-in, and a repo already uploaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import HfApi

from ..hub_stand_in import HubStandIn
from .files import MODEL_FILES, write_folder


@pytest.fixture
def api(hub: HubStandIn) -> HfApi:
    return HfApi()  # default endpoint: HF_ENDPOINT, i.e. the stand-in


@pytest.fixture
def uploaded(hub: HubStandIn, api: HfApi, tmp_path: Path):
    """tester/tiny-vae holding MODEL_FILES, uploaded with upload_folder; returns its CommitInfo."""
    api.create_repo("tester/tiny-vae")
    folder = write_folder(tmp_path / "upload", MODEL_FILES)
    return api.upload_folder(folder_path=folder, repo_id="tester/tiny-vae", commit_message="Add")
