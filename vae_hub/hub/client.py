"""Writing to the Hugging Face Hub: credentials and uploads, with clear errors.

Everything goes through huggingface_hub's own client (HfApi), so HF_ENDPOINT, HF_TOKEN and
the saved login behave as that library documents. A token is passed along, never printed,
logged or written to a file. (Downloads are `vae_hub.model_files`: loading needs them.)
"""

from __future__ import annotations

import shlex
from pathlib import Path

from huggingface_hub import HfApi, constants, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..errors import HubError

LOGIN_HINT = "pass --hub-token, set HF_TOKEN, or run `hf auth login`"


def check_repo_id(repo_id: str) -> str:
    """A Hub repo id ("name" or "owner/name"), or HubError saying what is wrong with it."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise HubError(f"{repo_id!r} is not a valid Hub repo id: {e}") from e
    return repo_id


def check_credentials(token: str | None = None) -> str:
    """The account name the token belongs to. Run before a long job that ends in a push, so
    a missing or rejected token is reported in seconds, not after training."""
    token = token or get_token()
    if not token:
        raise HubError(f"not logged in to the Hub at {constants.ENDPOINT}: {LOGIN_HINT}")
    try:
        return HfApi(token=token).whoami(token=token)["name"]
    except Exception as e:  # HTTP statuses and transport failures alike
        raise HubError(f"cannot use the Hub token: {describe_failure(e)}") from e


def describe_failure(error: Exception) -> str:
    """One line naming why a Hub call failed: HTTP status and cause, or the network."""
    if isinstance(error, HfHubHTTPError):
        status = error.response.status_code if error.response is not None else None
        cause = {
            401: f"the Hub rejected the token (HTTP 401); {LOGIN_HINT}",
            403: "the token may not write there (HTTP 403): check its permissions and the owner",
            404: "not found (HTTP 404): check the owner and repo name",
        }.get(status)
        if cause is None:
            server = error.server_message or str(error).splitlines()[0]
            cause = f"the Hub answered HTTP {status}: {server}"
        return cause
    if _is_transport_error(error):
        return f"cannot reach the Hub at {constants.ENDPOINT} ({type(error).__name__}: {error})"
    return f"{type(error).__name__}: {error}"


def _is_transport_error(error: Exception) -> bool:
    """Connection refused, DNS, timeouts: errors of the HTTP library that carry no status
    (huggingface_hub uses httpx2 today; the check does not hard-code which library)."""
    library = type(error).__module__.split(".")[0]
    return isinstance(error, OSError) or library in ("httpx", "httpx2", "httpcore", "httpcore2")


def push_command(
    folder: str | Path, repo_id: str, *, repo_type: str = "model", private: bool | None = None
) -> str:
    """The `vae-hub push` command that repeats an upload with every option it had (and never
    the token): a retry must not publish a private model, or a Space as a model."""
    args = ["vae-hub", "push", str(folder), repo_id]
    if repo_type != "model":
        args += ["--repo-type", repo_type]
    if private:
        args.append("--private")
    return shlex.join(args)


def upload_folder(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    repo_type: str = "model",
    allow_patterns: list[str] | None = None,
    commit_message: str = "Upload with vae-hub",
    retry_command: str,
) -> str:
    """Create `repo_id` if needed and upload `folder` in one commit; returns the repo URL.

    On failure raises HubError naming the cause and `retry_command`.
    """
    api = HfApi(token=token or None)
    try:
        url = api.create_repo(
            repo_id,
            private=private,
            repo_type=repo_type,
            exist_ok=True,
            space_sdk="gradio" if repo_type == "space" else None,
        )
        api.upload_folder(
            folder_path=str(folder),
            repo_id=url.repo_id,
            repo_type=repo_type,
            allow_patterns=allow_patterns,
            commit_message=commit_message,
        )
    except Exception as e:
        raise HubError(
            f"pushing to {repo_id} failed: {describe_failure(e)}. Nothing local was changed; "
            f"retry with: {retry_command}"
        ) from e
    return str(url)
