"""The vae-hub demo: `python app.py [--model FOLDER_OR_REPO] [--host H] [--port P]`.

Serves six tabs (sample, digit, interpolate, reconstruct, latent map, explore) on
http://127.0.0.1:7860 by default, each showing a result as soon as the page opens. Host and
port also come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, so this file runs unchanged as a
hosted Space. With no --model it loads
the model named by VAE_HUB_MODEL, else the one bundled with the package (works offline).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vae_hub import VAE
from vae_hub.cli.common import ArgumentParser, guarded
from vae_hub.demo.page import build_demo, serve
from vae_hub.errors import InvalidModelError
from vae_hub.files.bundled import default_model

DEFAULT_MODEL: str | None = None  # `vae-hub space` writes the Space's model here


def create_demo(model: str | None = None):
    """Load the model once and build the page for it: `model`, else $VAE_HUB_MODEL, else
    DEFAULT_MODEL (a repo id, or a folder beside this file), else the bundled model."""
    source = model or default_model(DEFAULT_MODEL, beside=Path(__file__).resolve().parent)
    return build_demo(VAE.from_pretrained(source), source)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python app.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default=None,
        help="save_pretrained folder or Hub repo id (default: $VAE_HUB_MODEL, else bundled)",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        help="port (default: $GRADIO_SERVER_PORT or 7860)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve the page until Ctrl-C; a bad option, model or port is one line and exit 2."""

    def run() -> int:
        args = parse_args(argv)
        try:
            page = demo if demo is not None and args.model is None else create_demo(args.model)
        except InvalidModelError as e:
            raise InvalidModelError(f"cannot load the model: {e}") from e
        serve(page, args.host, args.port)
        return 0

    return guarded(run)


try:  # module level, so `from app import demo` works for tests and `gradio app.py` reloads
    demo = create_demo()
except InvalidModelError:  # main() reports it; importing must not crash
    demo = None

if __name__ == "__main__":
    sys.exit(main())
