"""A file the demo serves itself, from memory: its bytes, gzipped once where that pays, with
caching headers and an ETag (a second visit revalidates instead of downloading again)."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response


@dataclass(frozen=True)
class Served:
    """One file as served: bytes, media type, Cache-Control, gzipped bytes, ETag."""

    body: bytes
    media: str
    cache: str = "no-cache"
    zipped: bytes | None = None
    etag: str = ""

    @classmethod
    def of(cls, body: bytes, media: str, cache: str = "no-cache", zip_it: bool = True):
        zipped = gzip.compress(body) if zip_it else None
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return cls(body, media, cache, zipped, etag)

    def response(self, request: Request) -> Response:
        headers = {"Cache-Control": self.cache, "ETag": self.etag, "Vary": "Accept-Encoding"}
        if self.etag and request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        body = self.body
        if self.zipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            body, headers["Content-Encoding"] = self.zipped, "gzip"
        return Response(body, media_type=self.media, headers=headers)
