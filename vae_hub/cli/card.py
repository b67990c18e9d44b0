"""`vae-hub card FOLDER`: re-render a model folder's README.md (the model card), e.g. after
`vae-hub evaluate FOLDER --out FOLDER/metrics.json`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..atomic import atomic_write_text
from ..hub.export import CARD_NAME, model_card_for


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="a model folder")
    p.add_argument(
        "--model-id",
        default=None,
        help="what the card's snippet loads: a repo id or a path (default: FOLDER)",
    )


def execute(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    card = model_card_for(folder, args.model_id or str(folder))
    atomic_write_text(folder / CARD_NAME, card)
    print(f"wrote {folder / CARD_NAME}")
    return 0
