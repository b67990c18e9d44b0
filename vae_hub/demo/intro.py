"""The way in: what the visitor is looking at, and where to read more."""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

from markdown_it import MarkdownIt

from ..errors import InvalidModelError, UnsafeFileError
from ..files.bundled import display_name
from ..files.model_files import looks_like_local_path
from ..files.regular_files import open_regular
from ..model.hub_mixin import project_url
from ..model.vae import VAE

TITLE = "vae-hub: a variational autoencoder on MNIST"
PAPER_URL = "https://arxiv.org/abs/1312.6114"
CARD_NAME = "README.md"
# A vae-hub card is under 10 KB; past this much the rest is left out, so a huge README
# cannot be sent to every visitor in the page config.
MAX_CARD_BYTES = 256 * 1024
# CommonMark and tables, with raw HTML off: a card's <form>, <input> or <script> is shown as
# text, never made an element, and links to javascript: or data: URLs are not made links.
# The card's pictures are files beside it, which the page does not serve: their section is
# replaced, so a visitor never meets captions without pictures.
PICTURES_NOTE = (
    "## Pictures\n\nThe card's pictures (samples, digits, a digit transit, the latent map, "
    "the loss curves) are files in the model folder; the tabs of this page draw the same "
    "from the model.\n\n"
)
CARD_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")


def header(model: VAE, source: str) -> str:
    """What the visitor is looking at, in plain words, and where to read more: short, so a
    phone shows the first picture without scrolling (the details are in `details`)."""
    links = []
    if not looks_like_local_path(source) and not Path(source).is_dir():
        links.append(f"[model card](https://huggingface.co/{source})")
    links.append(f"[the VAE paper]({PAPER_URL})")
    project = project_url()
    if project:
        links.append(f"[vae-hub]({project})")
    return (
        f"# {TITLE}\n"
        "A small neural network that learned to write digits: it sums up each handwritten "
        f"digit in {model.latent_dim} numbers, and turns any {model.latent_dim} numbers back "
        "into a digit. Every picture below is drawn by it, live, as you move a control. "
        + " · ".join(links)
    )


def details(model: VAE, source: str) -> str:
    """The model in the words of its options, for those who ask (inside "About this model")."""
    config = model.config
    posterior = f", a {config['flow_steps']}-step flow posterior" if config["flow_steps"] else ""
    posterior += model.prior.phrases(flow=bool(config["flow_steps"]))["brief"]
    return (
        f"**Model:** `{display_name(source)}` (`{config['arch']}` networks, latent size "
        f"{config['latent_dim']}{posterior})"
    )


def card_html(source: str) -> str | None:
    """The model card (README.md) of a local model folder as inert HTML, without its YAML
    front matter or its Pictures section (files beside it, not served): rendered here with
    raw HTML off, at most MAX_CARD_BYTES of it, undecodable bytes shown as U+FFFD. A card
    that is a link, FIFO or device is refused (InvalidModelError naming it): a link could
    expose any file of the server, such as /proc/self/environ, to every visitor."""
    path = Path(source) / CARD_NAME
    if not Path(source).is_dir() or not os.path.lexists(path):
        return None
    try:
        with open_regular(path) as file:
            data = file.read(MAX_CARD_BYTES + 1)
    except UnsafeFileError as e:
        raise InvalidModelError(str(e)) from e
    except OSError as e:
        raise InvalidModelError(f"{path}: cannot read the model card ({e})") from e
    truncated = len(data) > MAX_CARD_BYTES
    # an incremental decoder holds back a character cut in two by the truncation
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(data[:MAX_CARD_BYTES], final=not truncated)
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)\n?", "", text)
    text = re.sub(r"^## Pictures\n.*?(?=^## |\Z)", PICTURES_NOTE, text, flags=re.S | re.M)
    if truncated:
        text += f"\n\n*(card truncated: only its first {MAX_CARD_BYTES // 1024} KB are shown)*\n"
    return CARD_MARKDOWN.render(text)
