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

import atexit
import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

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

ENDPOINT_NAMES = frozenset(
    {"create", "validate-yaml", "preupload", "commit", "info", "tree", "paths-info", "resolve"}
    | {"whoami", "agent-harnesses"}
)
REPO_TYPES = ("model", "dataset", "space")
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
GITATTRIBUTES = (
    b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
    b"*.pt filter=lfs diff=lfs merge=lfs -text\n"
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
)
_API_ACTIONS = frozenset({"revision", "tree", "preupload", "commit", "paths-info"})
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Commit:
    oid: str
    files: dict[str, bytes]
    title: str
    description: str = ""
    date: str = field(default_factory=_now)


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool = False
    sdk: str | None = None
    created_at: str = field(default_factory=_now)
    commits: list[Commit] = field(default_factory=list)  # oldest first; the last one is main

    @property
    def head(self) -> Commit:
        return self.commits[-1]


@dataclass
class Call:
    """One request as the stand-in saw it (the Authorization header is kept for assertions)."""

    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    endpoint: str | None
    body: bytes = b""

    def json(self):
        """The body parsed as JSON (or as NDJSON lines, for a commit: a list of dicts)."""
        if self.endpoint == "commit":
            return [json.loads(line) for line in self.body.splitlines() if line.strip()]
        return json.loads(self.body)


@dataclass
class InjectedFailure:
    target: str
    status: int
    times: int | None = None
    error_code: str | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: object = None
    hits: int = 0

    def matches(self, method: str, path: str, endpoint: str | None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.target in ENDPOINT_NAMES:
            return endpoint == self.target
        return re.search(self.target, f"{method} {path}") is not None


class _Reply(Exception):
    """Raised inside a handler to answer with an error."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        if error_code is not None:
            self.headers["X-Error-Code"] = error_code


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: HubStandIn


class HubStandIn:
    """An in-memory Hub on ``127.0.0.1``; see the module docstring for the whole contract.

    Args:
        valid_tokens: ``None`` to accept any token (or none), or the set of accepted tokens.
        port: 0 for a free port (the port is then kept across ``stop()`` / ``start()``).
        user: the name ``whoami`` answers, also the default namespace of ``"name"``-only repos.
    """

    def __init__(
        self, valid_tokens: set[str] | None = None, *, port: int = 0, user: str = "tester"
    ) -> None:
        self._default_tokens = None if valid_tokens is None else set(valid_tokens)
        self.valid_tokens: set[str] | None = None if valid_tokens is None else set(valid_tokens)
        self.user = user
        self.port = port
        self._lock = threading.RLock()
        self._repos: dict[tuple[str, str], Repo] = {}
        self._failures: list[InjectedFailure] = []
        self._commit_counter = 0
        self.calls: list[Call] = []
        self.errors: list[str] = []  # tracebacks of requests the stand-in failed to handle
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("HubStandIn was never started: no port yet")
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> HubStandIn:
        """Start serving (on ``self.port``, or a free port the first time); idempotent."""
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.hub = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"HubStandIn:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket: new connections are refused.

        State (repos, calls) is kept, so ``start()`` brings the same Hub back on the same port.
        Responses close their connection (HTTP/1.0), so no kept-alive connection survives.
        """
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> HubStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget repos, failures, calls and errors; restore ``valid_tokens``."""
        with self._lock:
            self._repos.clear()
            self._failures.clear()
            self.calls.clear()
            self.errors.clear()
            self.valid_tokens = None if self._default_tokens is None else set(self._default_tokens)

    # ------------------------------------------------------------------ failure injection
    def fail(
        self,
        target: str,
        status: int = 500,
        *,
        times: int | None = None,
        error_code: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        body: object = None,
    ) -> InjectedFailure:
        """Answer requests matching ``target`` with ``status`` (``times`` times, or always).

        ``target``: an endpoint name from ``ENDPOINT_NAMES`` or a regex searched in
        ``"METHOD /path"``. ``error_code`` goes to ``X-Error-Code`` (e.g. "RepoNotFound"),
        ``message`` to ``X-Error-Message`` and to the body ``{"error": message}``; ``body``, if
        given, is sent (as JSON) instead of that body. The earliest matching failure wins.
        """
        if target not in ENDPOINT_NAMES:
            re.compile(target)  # a typo in a regex should fail here, not match nothing silently
        failure = InjectedFailure(
            target=target,
            status=status,
            times=times,
            error_code=error_code,
            message=message,
            headers=dict(headers or {}),
            body=body,
        )
        with self._lock:
            self._failures.append(failure)
        return failure

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    # ------------------------------------------------------------------ state helpers
    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes | str] | None = None,
        *,
        repo_type: str = "model",
        private: bool = False,
        sdk: str | None = None,
    ) -> Repo:
        """Create a repo directly (initial ``.gitattributes`` commit, then ``files`` if any)."""
        with self._lock:
            if (repo_type, repo_id) in self._repos:
                raise ValueError(f"{repo_type} {repo_id} already exists")
            repo = self._create(repo_type, repo_id, private=private, sdk=sdk)
            if files:
                self.add_commit(repo_id, files, repo_type=repo_type)
            return repo

    def add_commit(
        self,
        repo_id: str,
        files: dict[str, bytes | str],
        *,
        repo_type: str = "model",
        deleted: tuple[str, ...] = (),
        title: str = "Seeded by HubStandIn",
    ) -> str:
        """Commit ``files`` (and delete ``deleted``) on main directly; returns the commit id."""
        with self._lock:
            repo = self._get(repo_type, repo_id)
            new = dict(repo.head.files)
            for path in deleted:
                new.pop(path, None)
            for path, content in files.items():
                new[path] = content.encode() if isinstance(content, str) else bytes(content)
            return self._commit(repo, new, title).oid

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        with self._lock:
            return self._get(repo_type, repo_id)

    def repo_exists(self, repo_id: str, repo_type: str = "model") -> bool:
        with self._lock:
            try:
                self._get(repo_type, repo_id)
            except KeyError:
                return False
            return True

    def files(self, repo_id: str, repo_type: str = "model") -> dict[str, bytes]:
        """Path -> content of the latest commit on main."""
        with self._lock:
            return dict(self._get(repo_type, repo_id).head.files)

    def commits(self, repo_id: str, repo_type: str = "model") -> list[str]:
        """Commit ids on main, oldest first."""
        with self._lock:
            return [c.oid for c in self._get(repo_type, repo_id).commits]

    @property
    def requests(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(c.method, c.path) for c in self.calls]

    @property
    def authorization_headers(self) -> list[str | None]:
        with self._lock:
            return [c.authorization for c in self.calls]

    @property
    def tokens_seen(self) -> set[str]:
        """Bearer tokens that reached the stand-in."""
        with self._lock:
            return {
                c.authorization[len("Bearer ") :]
                for c in self.calls
                if c.authorization and c.authorization.startswith("Bearer ")
            }

    # ------------------------------------------------------------------ internals
    def _full_id(self, repo_id: str) -> str:
        return repo_id if "/" in repo_id else f"{self.user}/{repo_id}"

    def _get(self, repo_type: str, repo_id: str) -> Repo:
        """Helpers accept "name" for "<user>/name" (what create_repo("name") makes)."""
        for key in ((repo_type, repo_id), (repo_type, self._full_id(repo_id))):
            if key in self._repos:
                return self._repos[key]
        raise KeyError(f"no {repo_type} repo {repo_id!r} on the stand-in")

    def _create(self, repo_type: str, repo_id: str, *, private: bool, sdk: str | None) -> Repo:
        repo = Repo(repo_type=repo_type, repo_id=repo_id, private=private, sdk=sdk)
        self._repos[(repo_type, repo_id)] = repo
        self._commit(repo, {".gitattributes": GITATTRIBUTES}, "initial commit")
        return repo

    def _commit(
        self, repo: Repo, files: dict[str, bytes], title: str, description: str = ""
    ) -> Commit:
        self._commit_counter += 1
        digest = hashlib.sha1()
        digest.update(f"{repo.repo_type}/{repo.repo_id}#{self._commit_counter}\n{title}\n".encode())
        digest.update(repo.commits[-1].oid.encode() if repo.commits else b"root")
        for path in sorted(files):
            digest.update(f"{path}\0{git_blob_sha1(files[path])}\n".encode())
        commit = Commit(oid=digest.hexdigest(), files=files, title=title, description=description)
        repo.commits.append(commit)
        return commit

    def _repo_url(self, repo: Repo) -> str:
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return f"{self.url}/{prefix}{repo.repo_id}"

    def _token_ok(self, token: str | None) -> bool:
        if token is None:
            return False
        return self.valid_tokens is None or token in self.valid_tokens


def _split(path: str) -> list[str]:
    return [unquote(part) for part in path.split("/") if part]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: stop() leaves nothing open
    server_version = "HubStandIn/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silent: never print requests (they may carry tokens)."""

    # --- entry points
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # --- plumbing
    @property
    def hub(self) -> HubStandIn:
        return self.server.hub

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        self.method, self.query = method, query
        auth = self.headers.get("Authorization")
        self.token = auth[len("Bearer ") :].strip() if auth and auth.startswith("Bearer ") else None
        try:
            # Read the whole body first: answering before it is read could reset the connection.
            self.body = self._read_body()
            route = self._route(method, path)
            endpoint = route[0] if route else None
            with self.hub._lock:
                self.hub.calls.append(Call(method, path, query, auth, endpoint, self.body))
                failure = next(
                    (f for f in self.hub._failures if f.matches(method, path, endpoint)), None
                )
                if failure is not None:
                    failure.hits += 1
            if failure is not None:
                self._answer_injected(failure)
                return
            if route is None:
                raise _Reply(404, f"Sorry, HubStandIn has no route for {method} {path}")
            if self.token is not None and not self.hub._token_ok(self.token):
                raise _Reply(401, INVALID_CREDENTIALS)
            _, handler, args = route
            handler(*args)
        except _Reply as reply:
            body = json.dumps({"error": reply.message}).encode()
            headers = {"X-Error-Message": reply.message, **reply.headers}
            self._send(reply.status, body, "application/json", headers)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a request the stand-in does not understand, or a bug in it
            with self.hub._lock:
                self.hub.errors.append(f"{method} {path}\n{traceback.format_exc()}")
            # 400 rather than 500: the client retries 5xx for ~23 s, a 400 surfaces at once.
            message = f"HubStandIn could not handle {method} {path}: {exc!r}"
            with contextlib.suppress(OSError):
                self._send(400, json.dumps({"error": message}).encode(), "application/json", {})

    def _answer_injected(self, failure: InjectedFailure) -> None:
        try:
            reason = HTTPStatus(failure.status).phrase
        except ValueError:
            reason = f"HTTP {failure.status}"
        message = failure.message or f"{reason} (injected by HubStandIn)"
        headers = {"X-Error-Message": message, **failure.headers}
        if failure.error_code is not None:
            headers["X-Error-Code"] = failure.error_code
        payload = {"error": message} if failure.body is None else failure.body
        self._send(failure.status, json.dumps(payload).encode(), "application/json", headers)

    def _route(self, method: str, path: str):
        """(endpoint name, bound handler, args) or None."""
        parts = _split(path)
        if not parts:
            return None
        if parts[0] == "api":
            rest = parts[1:]
            if method == "POST" and rest == ["repos", "create"]:
                return "create", self._create_repo, ()
            if method == "POST" and rest == ["validate-yaml"]:
                return "validate-yaml", self._validate_yaml, ()
            if method == "GET" and rest == ["whoami-v2"]:
                return "whoami", self._whoami, ()
            if rest == ["agent-harnesses"]:
                return "agent-harnesses", self._not_found, ()
            if rest and rest[0] in ("models", "datasets", "spaces") and len(rest) >= 2:
                return self._route_repo_api(method, rest[0][:-1], rest[1:])
            return None
        repo_type = "model"
        if parts[0] in ("datasets", "spaces"):
            repo_type, parts = parts[0][:-1], parts[1:]
        if method in ("GET", "HEAD") and "resolve" in parts[1:3]:
            i = parts.index("resolve", 1)
            if len(parts) >= i + 3:
                repo_id = "/".join(parts[:i])
                rev, filename = parts[i + 1], "/".join(parts[i + 2 :])
                return "resolve", self._resolve, (repo_type, repo_id, rev, filename)
        return None

    def _route_repo_api(self, method: str, repo_type: str, rest: list[str]):
        if len(rest) == 1 or rest[1] in _API_ACTIONS:
            repo_id, tail = rest[0], rest[1:]
        else:
            repo_id, tail = "/".join(rest[:2]), rest[2:]
        if method == "GET" and not tail:
            return "info", self._info, (repo_type, repo_id, "main")
        action, args = tail[0], tail[1:]
        if method == "GET" and action == "revision" and args:
            return "info", self._info, (repo_type, repo_id, "/".join(args))
        if method == "GET" and action == "tree" and args:
            return "tree", self._tree, (repo_type, repo_id, args[0], "/".join(args[1:]))
        if method == "POST" and action == "preupload" and len(args) == 1:
            return "preupload", self._preupload, (repo_type, repo_id, args[0])
        if method == "POST" and action == "commit" and len(args) == 1:
            return "commit", self._commit, (repo_type, repo_id, args[0])
        if method == "POST" and action == "paths-info" and len(args) == 1:
            return "paths-info", self._paths_info, (repo_type, repo_id, args[0])
        return None

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json_body(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise _Reply(400, "Invalid JSON body") from None

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            # Header values must be one latin-1 line: keep error messages printable ASCII.
            value = re.sub(r"[\r\n]+", " ", str(value)).encode("ascii", "replace").decode()
            self.send_header(key, value)
        self.end_headers()
        if self.method != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: object, status: int = 200, headers: dict[str, str] | None = None):
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    # --- access rules
    def _require_write(self) -> None:
        if self.hub.valid_tokens is not None and not self.hub._token_ok(self.token):
            raise _Reply(401, INVALID_CREDENTIALS)

    def _readable(self, repo_type: str, repo_id: str) -> Repo:
        """The repo, or the Hub's answer for a missing or private one (both RepoNotFound)."""
        repo = self.hub._repos.get((repo_type, repo_id))
        authed = self.hub._token_ok(self.token)
        if repo is None or (repo.private and not authed):
            raise _Reply(
                404 if authed else 401,
                "Repository not found",
                error_code="RepoNotFound",
            )
        return repo

    def _revision(self, repo: Repo, revision: str) -> Commit:
        if revision == "main":
            return repo.head
        if _COMMIT_RE.match(revision):
            for commit in repo.commits:
                if commit.oid == revision:
                    return commit
        raise _Reply(404, f"Invalid rev id: {revision}", error_code="RevisionNotFound")

    # --- endpoints
    def _not_found(self) -> None:
        raise _Reply(404, "Not found on HubStandIn")

    def _whoami(self) -> None:
        if self.token is None or not self.hub._token_ok(self.token):
            raise _Reply(401, INVALID_CREDENTIALS)
        user = self.hub.user
        self._json(
            {
                "type": "user",
                "id": hashlib.sha1(user.encode()).hexdigest()[:24],
                "name": user,
                "fullname": user.title(),
                "email": f"{user}@example.invalid",
                "emailVerified": True,
                "canPay": False,
                "isPro": False,
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "test", "role": "write"},
                },
            }
        )

    def _validate_yaml(self) -> None:
        self._require_write()
        self._json_body()
        self._json({"errors": [], "warnings": []})

    def _create_repo(self) -> None:
        self._require_write()
        body = self._json_body()
        if not isinstance(body, dict) or not body.get("name"):
            raise _Reply(400, "Missing repo name")
        repo_type = body.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise _Reply(400, f"Invalid repo type: {repo_type}")
        owner = body.get("organization") or self.hub.user
        repo_id = f"{owner}/{body['name']}"
        if repo_type == "space" and not body.get("sdk"):
            raise _Reply(400, "Missing Space SDK")
        private = body.get("visibility") == "private" or bool(body.get("private"))
        with self.hub._lock:
            existing = self.hub._repos.get((repo_type, repo_id))
            if existing is not None:
                self._json(
                    {"error": "You already created this repo", "url": self.hub._repo_url(existing)},
                    status=409,
                    headers={"X-Error-Message": "You already created this repo"},
                )
                return
            repo = self.hub._create(repo_type, repo_id, private=private, sdk=body.get("sdk"))
        self._json({"url": self.hub._repo_url(repo), "name": repo_id, "id": repo_id})

    def _info(self, repo_type: str, repo_id: str, revision: str) -> None:
        with self.hub._lock:
            repo = self._readable(repo_type, repo_id)
            commit = self._revision(repo, revision)
            blobs = self.query.get("blobs", ["false"])[0].lower() in ("1", "true")
            siblings = []
            for path in sorted(commit.files):
                sibling: dict[str, object] = {"rfilename": path}
                if blobs:
                    sibling["size"] = len(commit.files[path])
                    sibling["blobId"] = git_blob_sha1(commit.files[path])
                siblings.append(sibling)
            info: dict[str, object] = {
                "_id": hashlib.sha1(f"{repo_type}/{repo_id}".encode()).hexdigest()[:24],
                "id": repo_id,
                "author": repo_id.split("/")[0],
                "sha": commit.oid,
                "lastModified": commit.date,
                "createdAt": repo.created_at,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
            }
            if repo_type == "model":
                info.update(downloads=0, modelId=repo_id)
            elif repo_type == "space":
                info.update(
                    sdk=repo.sdk,
                    subdomain=repo_id.replace("/", "-").lower(),
                    runtime={"stage": "RUNNING", "hardware": {"current": "cpu-basic"}},
                )
            else:
                info.update(downloads=0)
        self._json(info)

    def _entries(self, commit: Commit, prefix: str, recursive: bool) -> list[dict[str, object]]:
        prefix = prefix.strip("/")
        base = f"{prefix}/" if prefix else ""
        if (
            prefix
            and prefix not in commit.files
            and not any(p.startswith(base) for p in commit.files)
        ):
            raise _Reply(404, f"{prefix} does not exist", error_code="EntryNotFound")
        if prefix in commit.files:  # the path is a file
            return [self._file_entry(prefix, commit.files[prefix])]
        entries: dict[str, dict[str, object]] = {}
        for path in sorted(commit.files):
            if not path.startswith(base):
                continue
            parts = path[len(base) :].split("/")
            depth = len(parts) if recursive else 1
            for i in range(1, min(depth, len(parts) - 1) + 1):
                folder = base + "/".join(parts[:i])
                oid = hashlib.sha1(f"tree {commit.oid} {folder}".encode()).hexdigest()
                entries.setdefault(folder, {"type": "directory", "oid": oid, "path": folder})
            if recursive or len(parts) == 1:
                entries[path] = self._file_entry(path, commit.files[path])
        return [entries[k] for k in sorted(entries)]

    @staticmethod
    def _file_entry(path: str, content: bytes) -> dict[str, object]:
        return {"type": "file", "oid": git_blob_sha1(content), "size": len(content), "path": path}

    def _tree(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        with self.hub._lock:
            commit = self._revision(self._readable(repo_type, repo_id), revision)
            entries = self._entries(commit, path, recursive)
        self._json(entries)

    def _paths_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        body = self.body.decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = json.loads(body or "{}").get("paths", [])
        else:
            paths = parse_qs(body).get("paths", [])
        with self.hub._lock:
            commit = self._revision(self._readable(repo_type, repo_id), revision)
            out: list[dict[str, object]] = []
            for path in paths:
                path = path.strip("/")
                if path in commit.files:
                    out.append(self._file_entry(path, commit.files[path]))
                elif any(p.startswith(path + "/") for p in commit.files):
                    oid = hashlib.sha1(f"tree {commit.oid} {path}".encode()).hexdigest()
                    out.append({"type": "directory", "oid": oid, "path": path})
        self._json(out)

    def _preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        self._require_write()
        body = self._json_body()
        if "create_pr" in self.query:
            raise _Reply(400, "HubStandIn does not support create_pr")
        with self.hub._lock:
            commit = self._revision(self._readable(repo_type, repo_id), revision)
            files = []
            for item in (body or {}).get("files", []):
                existing = commit.files.get(item["path"])
                files.append(
                    {
                        "path": item["path"],
                        "uploadMode": "regular",
                        "shouldIgnore": False,
                        "oid": None if existing is None else git_blob_sha1(existing),
                    }
                )
        self._json({"files": files, "commitOid": commit.oid})

    def _commit(self, repo_type: str, repo_id: str, revision: str) -> None:
        self._require_write()
        if "create_pr" in self.query:
            raise _Reply(400, "HubStandIn does not support create_pr")
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise _Reply(400, "The first line of a commit must be its header")
        header = lines[0]["value"]
        with self.hub._lock:
            repo = self._readable(repo_type, repo_id)
            if revision != "main":
                raise _Reply(
                    404,
                    f"Invalid rev id: {revision} (HubStandIn commits to main only)",
                    error_code="RevisionNotFound",
                )
            parent = header.get("parentCommit")
            if parent is not None and parent != repo.head.oid:
                raise _Reply(412, "A commit has happened since. Please refresh and try again.")
            files = dict(repo.head.files)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = str(value.get("path", "")).strip("/")
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise _Reply(400, f"Unsupported encoding for {path}")
                    files[path] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    if path not in files:
                        raise _Reply(404, f"File not found: {path}", error_code="EntryNotFound")
                    del files[path]
                elif key == "deletedFolder":
                    for existing in [p for p in files if p.startswith(path + "/")]:
                        del files[existing]
                else:
                    raise _Reply(400, f"HubStandIn does not support commit operation {key!r}")
            commit = self.hub._commit(
                repo, files, header.get("summary") or "", header.get("description") or ""
            )
            url = f"{self.hub._repo_url(repo)}/commit/{commit.oid}"
        self._json({"commitUrl": url, "commitOid": commit.oid, "pullRequestUrl": None})

    def _resolve(self, repo_type: str, repo_id: str, revision: str, filename: str) -> None:
        with self.hub._lock:
            repo = self._readable(repo_type, repo_id)
            commit = self._revision(repo, revision)
            content = commit.files.get(filename)
        headers = {"X-Repo-Commit": commit.oid}
        if content is None:
            raise _Reply(404, "Entry not found", error_code="EntryNotFound", headers=headers)
        etag = git_blob_sha1(content)
        headers.update({"ETag": f'"{etag}"', "Accept-Ranges": "bytes"})
        status, body = 200, content
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
        if match and content:
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else len(content) - 1, len(content) - 1)
            if start >= len(content):
                raise _Reply(
                    416, "Range Not Satisfiable", headers={"Content-Range": f"*/{len(content)}"}
                )
            status, body = 206, content[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        self._send(status, body, "application/octet-stream", headers)


# ---------------------------------------------------------------------- pytest session support
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
