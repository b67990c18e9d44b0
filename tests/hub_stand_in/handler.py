"""The request handler: every request is recorded, checked against the injected failures
and the token, then routed to its endpoint."""

from __future__ import annotations

import contextlib
import json
import traceback
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

from .account import AccountEndpoints
from .base import Reply
from .reads import ReadEndpoints
from .state import INVALID_CREDENTIALS, Call, InjectedFailure
from .writes import WriteEndpoints

_API_ACTIONS = frozenset({"revision", "tree", "preupload", "commit", "paths-info"})


def _split(path: str) -> list[str]:
    return [unquote(part) for part in path.split("/") if part]


class Handler(AccountEndpoints, ReadEndpoints, WriteEndpoints):
    """One request: the entry points `http.server` calls, and the routing to the
    endpoint families."""

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
                raise Reply(404, f"Sorry, HubStandIn has no route for {method} {path}")
            if self.token is not None and not self.hub._token_ok(self.token):
                raise Reply(401, INVALID_CREDENTIALS)
            _, handler, args = route
            handler(*args)
        except Reply as reply:
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
