"""`HubStandIn`: the in-memory Hub a test starts, seeds, breaks on purpose and inspects."""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import ThreadingHTTPServer

from .handler import Handler
from .state import ENDPOINT_NAMES, GITATTRIBUTES, Call, Commit, InjectedFailure, Repo, git_blob_sha1


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: HubStandIn


class HubStandIn:
    """An in-memory Hub on ``127.0.0.1``; the package's docstring
    (`tests/hub_stand_in/__init__.py`) has the whole contract.

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
        self._server: Server | None = None
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
        server = Server(("127.0.0.1", self.port), Handler)
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
