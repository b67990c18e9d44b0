"""Read endpoints: repo info, tree listings, paths-info and file downloads (with ranges)."""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import parse_qs

from .base import Endpoints, Reply
from .state import Commit, git_blob_sha1


class ReadEndpoints(Endpoints):
    """/api/{type}s/{id}[/revision/{rev}], .../tree/..., .../paths-info/..., and
    /{id}/resolve/{rev}/{file}: what downloads and listings ask."""

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
            raise Reply(404, f"{prefix} does not exist", error_code="EntryNotFound")
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

    def _resolve(self, repo_type: str, repo_id: str, revision: str, filename: str) -> None:
        with self.hub._lock:
            repo = self._readable(repo_type, repo_id)
            commit = self._revision(repo, revision)
            content = commit.files.get(filename)
        headers = {"X-Repo-Commit": commit.oid}
        if content is None:
            raise Reply(404, "Entry not found", error_code="EntryNotFound", headers=headers)
        etag = git_blob_sha1(content)
        headers.update({"ETag": f'"{etag}"', "Accept-Ranges": "bytes"})
        status, body = 200, content
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
        if match and content:
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else len(content) - 1, len(content) - 1)
            if start >= len(content):
                raise Reply(
                    416, "Range Not Satisfiable", headers={"Content-Range": f"*/{len(content)}"}
                )
            status, body = 206, content[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        self._send(status, body, "application/octet-stream", headers)
