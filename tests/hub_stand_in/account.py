"""Account endpoints: whoami, creating repos, validating a card's YAML."""

from __future__ import annotations

import hashlib

from .base import Endpoints, Reply
from .state import INVALID_CREDENTIALS, REPO_TYPES


class AccountEndpoints(Endpoints):
    """/api/whoami-v2, /api/repos/create, /api/validate-yaml."""

    def _not_found(self) -> None:
        raise Reply(404, "Not found on HubStandIn")

    def _whoami(self) -> None:
        if self.token is None or not self.hub._token_ok(self.token):
            raise Reply(401, INVALID_CREDENTIALS)
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
            raise Reply(400, "Missing repo name")
        repo_type = body.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise Reply(400, f"Invalid repo type: {repo_type}")
        owner = body.get("organization") or self.hub.user
        repo_id = f"{owner}/{body['name']}"
        if repo_type == "space" and not body.get("sdk"):
            raise Reply(400, "Missing Space SDK")
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
