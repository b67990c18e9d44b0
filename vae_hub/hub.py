"""Talking to the Hugging Face Hub: downloading a model's files with clear errors."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .errors import ModelNotFoundError
from .serialization import CONFIG_NAME, WEIGHTS_NAME


def download_model_files(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    force_download: bool = False,
    token: str | bool | None = None,
    local_files_only: bool = False,
) -> tuple[Path, Path]:
    """Fetch config.json and model.safetensors of one commit of `repo_id` into the HF cache.

    The weights are fetched at the commit the config came from, so a push between the two
    downloads cannot pair one commit's config with another's weights.
    """
    kwargs = dict(
        cache_dir=cache_dir,
        force_download=force_download,
        token=token,
        local_files_only=local_files_only,
    )
    config = Path(_download(repo_id, CONFIG_NAME, revision, **kwargs))
    commit = config.parent.name if config.parent.parent.name == "snapshots" else revision
    weights = Path(_download(repo_id, WEIGHTS_NAME, commit, **kwargs))
    return config, weights


def _download(repo_id: str, filename: str, revision: str | None, **kwargs) -> str:
    where = f"{repo_id!r} on {constants.ENDPOINT}"
    try:
        return hf_hub_download(repo_id, filename, revision=revision, **kwargs)
    except HFValidationError as e:
        raise ModelNotFoundError(
            f"{repo_id!r} is neither a model folder nor a valid Hub repo id ('owner/name'): {e}"
        ) from e
    except RepositoryNotFoundError as e:
        raise ModelNotFoundError(
            f"no model repo {where} (if it is private or gated, pass token= or set HF_TOKEN)"
        ) from e
    except RevisionNotFoundError as e:
        raise ModelNotFoundError(f"no revision {revision!r} in {where}") from e
    except LocalEntryNotFoundError as e:
        raise ModelNotFoundError(
            f"cannot get {filename} of {where}: the Hub is unreachable or offline mode is on "
            "(HF_HUB_OFFLINE=1 or local_files_only=True) and the file is not in the cache "
            f"({cache_location(kwargs.get('cache_dir'))})"
        ) from e
    except EntryNotFoundError as e:
        hint = "" if filename == CONFIG_NAME else " (vae-hub reads safetensors only, never .bin)"
        raise ModelNotFoundError(
            f"{where} has no {filename}: it is not a vae-hub model repo{hint}"
        ) from e
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise ModelNotFoundError(f"downloading {filename} of {where} failed (HTTP {status})") from e


def cache_location(cache_dir: str | Path | None) -> str:
    return str(cache_dir or constants.HF_HUB_CACHE)
