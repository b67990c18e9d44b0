"""`vae-hub card FOLDER`: re-render a model folder's README.md (the model card), e.g. after
`vae-hub evaluate FOLDER --out FOLDER/metrics.json`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..files.atomic import atomic_write_text
from ..hub.card import draw_card_images
from ..hub.export import CARD_NAME, model_card_for
from ..hub.records import TRAINING_NAME, read_record
from ..model.vae import VAE


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="a model folder")
    p.add_argument(
        "--model-id",
        default=None,
        help="what the card's snippet loads: a repo id or a path (default: FOLDER)",
    )
    p.add_argument(
        "--pictures",
        action="store_true",
        help="also redraw the card's pictures (samples, digits, transit, latent map, loss "
        "curves) with this version of vae-hub, e.g. after a change of generate_digit's "
        "default temperature",
    )


def execute(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    model = VAE.from_pretrained(folder)
    if args.pictures:
        training = read_record(folder, TRAINING_NAME) or {}
        drawn = draw_card_images(model, folder, training.get("history"))
        print(f"drew {', '.join(drawn.values())} in {folder}")
    card = model_card_for(folder, args.model_id or str(folder), model)
    atomic_write_text(folder / CARD_NAME, card)
    print(f"wrote {folder / CARD_NAME}")
    return 0
