"""What every endpoint shares: the error answer, reading the request body, sending JSON,
and the Hub's access rules (who may write, who may read a private repo, which revisions
exist)."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from .state import INVALID_CREDENTIALS, Commit, Repo

if TYPE_CHECKING:  # annotations only: the server module imports the handler built on this
    from .server import HubStandIn, Server

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


class Reply(Exception):
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


class Endpoints(BaseHTTPRequestHandler):
    """The plumbing the endpoint families (account, reads, writes) are written with. The
    request's parts are set by `Handler._dispatch` before an endpoint runs."""

    server: Server
    method: str
    query: dict[str, list[str]]
    token: str | None  # the Bearer token, if the request carried one
    body: bytes
    protocol_version = "HTTP/1.0"  # one request per connection: stop() leaves nothing open
    server_version = "HubStandIn/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silent: never print requests (they may carry tokens)."""

    @property
    def hub(self) -> HubStandIn:
        return self.server.hub

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
            raise Reply(400, "Invalid JSON body") from None

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
            raise Reply(401, INVALID_CREDENTIALS)

    def _readable(self, repo_type: str, repo_id: str) -> Repo:
        """The repo, or the Hub's answer for a missing or private one (both RepoNotFound)."""
        repo = self.hub._repos.get((repo_type, repo_id))
        authed = self.hub._token_ok(self.token)
        if repo is None or (repo.private and not authed):
            raise Reply(
                404 if authed else 401,
                "Repository not found",
                error_code="RepoNotFound",
            )
        return repo

    def _revision(self, repo: Repo, revision: str) -> Commit:
        if revision == "main":
            return repo.head
        if COMMIT_RE.match(revision):
            for commit in repo.commits:
                if commit.oid == revision:
                    return commit
        raise Reply(404, f"Invalid rev id: {revision}", error_code="RevisionNotFound")
