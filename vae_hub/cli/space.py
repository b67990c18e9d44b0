"""`vae-hub space OUT_DIR --model MODEL`: a ready-to-run Gradio Space folder for a model.

Writes OUT_DIR with app.py, the vae_hub package, requirements.txt and a README.md with the
Space front matter; --push also uploads it. The folder runs locally too: cd OUT_DIR &&
python app.py. An existing OUT_DIR is replaced only when it is empty or a Space this command
wrote (it holds .vae-hub-space), and never when it holds the model.
"""

from __future__ import annotations

import argparse

from ..hub.client import check_credentials, check_repo_id
from ..hub.export import export_space, push_space
from .push import add_hub_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "out_dir",
        help="folder to write: a new or empty one, or a Space this command wrote (replaced)",
    )
    p.add_argument(
        "--model", required=True, help="Hub repo id the Space serves, or a local model folder"
    )
    p.add_argument("--push", metavar="USER/SPACE", default=None, help="also upload it as a Space")
    add_hub_options(p)


def execute(args: argparse.Namespace) -> int:
    if args.push:
        check_repo_id(args.push)
        check_credentials(args.hub_token)
    folder = export_space(args.out_dir, args.model)
    print(f"Wrote the Space to {folder} (run it: cd {folder} && python app.py)")
    if args.push:
        url = push_space(folder, args.push, token=args.hub_token, private=args.private or None)
        print(f"Pushed the Space to {url}")
    return 0
