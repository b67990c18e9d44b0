"""`vae-hub push FOLDER USER/NAME`: publish a model folder (or an exported Space) to the Hub,
e.g. after a push that failed. The repo id and the credentials are checked first, as
`train.py --push` checks them, so a missing login is "not logged in", not a network error."""

from __future__ import annotations

import argparse

from ..hub.client import check_credentials, check_repo_id
from ..hub.export import push_model, push_space


def add_hub_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument(
        "--hub-token", default=None, help="Hub token (default: HF_TOKEN or the saved login)"
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="a model folder (config.json, model.safetensors, ...)")
    p.add_argument("repo_id", help="the Hub repo, user/name")
    p.add_argument("--repo-type", choices=("model", "space"), default="model", help="repo kind")
    add_hub_options(p)


def execute(args: argparse.Namespace) -> int:
    check_repo_id(args.repo_id)
    check_credentials(args.hub_token)
    push = push_space if args.repo_type == "space" else push_model
    url = push(args.folder, args.repo_id, token=args.hub_token, private=args.private or None)
    print(f"Pushed {args.folder} to {url}")
    return 0
