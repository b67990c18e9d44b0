"""Write endpoints: preupload (which files the client must send) and commits."""

from __future__ import annotations

import base64
import json

from .base import Endpoints, Reply
from .state import git_blob_sha1


class WriteEndpoints(Endpoints):
    """/api/{type}s/{id}/preupload/{rev} and .../commit/{rev}: what an upload sends."""

    def _preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        self._require_write()
        body = self._json_body()
        if "create_pr" in self.query:
            raise Reply(400, "HubStandIn does not support create_pr")
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
            raise Reply(400, "HubStandIn does not support create_pr")
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise Reply(400, "The first line of a commit must be its header")
        header = lines[0]["value"]
        with self.hub._lock:
            repo = self._readable(repo_type, repo_id)
            if revision != "main":
                raise Reply(
                    404,
                    f"Invalid rev id: {revision} (HubStandIn commits to main only)",
                    error_code="RevisionNotFound",
                )
            parent = header.get("parentCommit")
            if parent is not None and parent != repo.head.oid:
                raise Reply(412, "A commit has happened since. Please refresh and try again.")
            files = dict(repo.head.files)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = str(value.get("path", "")).strip("/")
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise Reply(400, f"Unsupported encoding for {path}")
                    files[path] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    if path not in files:
                        raise Reply(404, f"File not found: {path}", error_code="EntryNotFound")
                    del files[path]
                elif key == "deletedFolder":
                    for existing in [p for p in files if p.startswith(path + "/")]:
                        del files[existing]
                else:
                    raise Reply(400, f"HubStandIn does not support commit operation {key!r}")
            commit = self.hub._commit(
                repo, files, header.get("summary") or "", header.get("description") or ""
            )
            url = f"{self.hub._repo_url(repo)}/commit/{commit.oid}"
        self._json({"commitUrl": url, "commitOid": commit.oid, "pullRequestUrl": None})
