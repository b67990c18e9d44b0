"""An in-memory Hugging Face Hub stand-in for tests (stdlib only).

The real ``huggingface_hub`` client talks to it over HTTP through ``HF_ENDPOINT``: nothing in
``huggingface_hub`` is patched or mocked. It answers what ``create_repo``, ``upload_folder`` /
``create_commit`` / ``push_to_hub``, ``repo_info`` / ``model_info`` / ``space_info``,
``list_repo_files`` / ``list_repo_tree``, ``get_paths_info``, ``hf_hub_download``,
``snapshot_download``, ``from_pretrained`` and ``whoami`` send (huggingface_hub 2.4.0, with
``HF_HUB_DISABLE_XET=1`` so that every file travels as a plain "regular" git file: no LFS and no
xet endpoint is ever needed).

Basic use::

    with HubStandIn() as hub:            # 127.0.0.1, a free port, a daemon thread
        hub.url                          # "http://127.0.0.1:PORT"
        hub.add_repo("tester/seeded", {"config.json": b"{}"})
        ...                              # drive the real client at hub.url
        hub.files("tester/seeded")       # {".gitattributes": b"...", "config.json": b"{}"}
        hub.stop()                       # "the Hub went away": connections are now refused
        hub.start()                      # back again, same port, same state

Faithful details worth knowing when writing assertions:

- A new repo starts, like on the Hub, with one "initial commit" holding ``.gitattributes``.
- Commit ids are 40-hex sha1 strings; a revision may be ``"main"`` or a full commit id. Other
  branches, tags and ``refs/pr/N`` answer 404 RevisionNotFound; ``create_pr`` is refused (400).
- File ids (``oid`` in tree listings, ``ETag`` of ``/resolve``) are git blob sha1s, and preupload
  reports the remote ``oid`` of files that already exist, so the client skips unchanged files (an
  upload where nothing changed makes no commit, exactly as against the Hub).
- ``cardData`` is not derived from README.md front matter (that would need a YAML parser).

Authentication (``valid_tokens``; also a mutable attribute, restored by ``reset()``):

- ``None`` (default): any token, or none, may write and call whoami.
- a set of strings: creating repos, preupload, commit, validate-yaml and whoami need
  ``Authorization: Bearer <token>`` with a token from the set; otherwise 401 with
  ``X-Error-Message: Invalid credentials in Authorization header`` (the client then raises a plain
  ``HfHubHTTPError``, status 401). A request carrying a token *not* in the set is refused that way
  on every endpoint, as the Hub refuses a bad token even for public content.
- private repos can only be read with a valid token (with ``valid_tokens=None``: with any token);
  otherwise 401 with ``X-Error-Code: RepoNotFound``, which the client turns into
  ``RepositoryNotFoundError``, like for a missing repo.

Failure injection::

    hub.fail("create", 403)                        # every POST /api/repos/create answers 403
    hub.fail("commit", 500, times=1)               # only the next commit fails
    hub.fail(r"^HEAD /.*/resolve/", 404, error_code="EntryNotFound")
    hub.clear_failures()

    hub.fail("validate-yaml", 400, body={"errors": [{"message": "bad license"}]})

The first argument is either an endpoint name (``ENDPOINT_NAMES``: "create", "validate-yaml",
"preupload", "commit", "info", "tree", "paths-info", "resolve", "whoami", "agent-harnesses") or a
regular expression searched in ``"METHOD /raw/path"`` (no query string). The injected answer is a
JSON ``{"error": message}`` with the given status and optional ``X-Error-Code``; it comes before
authentication and before any state change. ``fail()`` returns an ``InjectedFailure`` whose
``hits`` counts the requests it answered. Keep in mind that the client retries some calls with
exponential backoff (1, 2, 4, 8, 8 s) on 408/429/5xx and on connection errors: preupload, tree
listings and the retried HEAD of ``hf_hub_download`` do; ``create_repo``, ``repo_info``,
``whoami`` and the commit POST of ``create_commit`` do not. Use ``times=1`` with 5xx on retried
endpoints, or the test waits ~23 s. The client guesses RepositoryNotFoundError from a bare 401
only for https:// URLs: against the stand-in, add ``error_code="RepoNotFound"`` to get it.

Inspection: ``requests`` (list of ``(method, path)``, path without query string),
``calls`` (``Call`` records with the query, Authorization header and body too; ``Call.json()``
parses the body), ``authorization_headers``, ``tokens_seen``, ``files()``, ``repo_exists()``,
``repo()``, ``commits()``. Tokens are kept in memory only; nothing is ever printed or logged.
A request the stand-in cannot handle (malformed, or a bug in it) is answered 400 with the reason
(not 500, which the client would retry for ~23 s) and its traceback is appended to ``errors``.

Sharing one stand-in for a whole pytest session (what ``tests/conftest.py`` must do)
------------------------------------------------------------------------------------

``huggingface_hub`` reads ``HF_ENDPOINT`` (and ``HF_HOME``, ``HF_HUB_DISABLE_XET``...) once,
when ``huggingface_hub.constants`` is first loaded, so the environment must be set before
anything imports the client (``vae_hub`` does). Put this at the top of ``tests/conftest.py``,
right after ``import pytest`` and before any import of ``vae_hub`` or ``huggingface_hub``::

    from .hub_stand_in import configure_environment, hub_fixture, start_session_hub

    configure_environment(start_session_hub().url)  # before anything imports huggingface_hub
    hub = pytest.fixture(hub_fixture)

``start_session_hub()`` starts the shared ``HubStandIn`` once (idempotent) and
``configure_environment()`` sets ``HF_ENDPOINT``, ``HF_HUB_DISABLE_XET=1``,
``HF_HUB_DISABLE_TELEMETRY=1``, ``HF_HUB_DISABLE_PROGRESS_BARS=1``, a throw-away ``HF_HOME`` (so
no token or cache of the developer is used) and removes ``HF_TOKEN``, ``HF_HUB_OFFLINE`` and
friends; subprocesses started by tests inherit all of it. The ``hub`` fixture hands each test the
shared stand-in after ``reset()``, restarting it on the same port if a previous test stopped it.
It fails the test (with what to do) if ``huggingface_hub`` was loaded before the environment was
set, and at teardown if the stand-in met a request it could not handle.
"""

from __future__ import annotations

from .server import HubStandIn
from .session import configure_environment, endpoint_problem, hub_fixture, start_session_hub
from .state import (
    ENDPOINT_NAMES,
    INVALID_CREDENTIALS,
    Call,
    Commit,
    InjectedFailure,
    Repo,
    git_blob_sha1,
)

__all__ = [
    "ENDPOINT_NAMES",
    "INVALID_CREDENTIALS",
    "Call",
    "Commit",
    "HubStandIn",
    "InjectedFailure",
    "Repo",
    "configure_environment",
    "endpoint_problem",
    "git_blob_sha1",
    "hub_fixture",
    "start_session_hub",
]
