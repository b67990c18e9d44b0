"""What the stand-in holds: repos, their commits, the requests it saw and the failures
it was told to inject."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

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
