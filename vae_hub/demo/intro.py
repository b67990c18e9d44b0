"""The way in: what the visitor is looking at, and where to read more."""

from __future__ import annotations

import re
from pathlib import Path

from ..hub_mixin import project_url
from ..model import VAE
from ..model_files import looks_like_local_path
from ..pretrained import display_name

TITLE = "vae-hub: a variational autoencoder on MNIST"
PAPER_URL = "https://arxiv.org/abs/1312.6114"


def header(model: VAE, source: str) -> str:
    """What the visitor is looking at, and where to read more."""
    config = model.config
    posterior = f", a {config['flow_steps']}-step flow posterior" if config["flow_steps"] else ""
    if config["prior"] == "class-mixture":
        posterior += ", a learned prior per digit"
    links = []
    if not looks_like_local_path(source) and not Path(source).is_dir():
        links.append(f"[model card](https://huggingface.co/{source})")
    links.append(f"[the VAE paper]({PAPER_URL})")
    project = project_url()
    if project:
        links.append(f"[vae-hub]({project})")
    return (
        f"# {TITLE}\n"
        f"A variational autoencoder squeezes each 28x28 handwritten digit into "
        f"{model.latent_dim} numbers, its *latent code*, and learns to turn any code back "
        "into a digit. Draw new digits from its prior, ask for a digit, morph one digit into "
        "another, watch it rebuild your own drawing, and walk through its latent space: every "
        "picture is decoded by the model, live, as you move a control.\n\n"
        f"**Model:** `{display_name(source)}` (`{config['arch']}` networks, latent size "
        f"{config['latent_dim']}{posterior}) · " + " · ".join(links)
    )


def card_text(source: str) -> str | None:
    """The model card of a local model folder, without its YAML front matter."""
    card = Path(source) / "README.md"
    if not card.is_file():
        return None
    text = card.read_text(encoding="utf-8")
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    return re.sub(r"!\[[^\]]*\]\([^)]*\)\n?", "", text)  # its pictures are files beside it
