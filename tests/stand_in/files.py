"""What the stand-in tests upload: a tiny model folder and a Space's card."""

from __future__ import annotations

import json
from pathlib import Path

README = """---
license: mit
tags:
- vae
- mnist
library_name: vae-hub
---

# A tiny model

Used by the Hub stand-in tests.
"""

SPACE_README = """---
title: VAE demo
emoji: 🎨
colorFrom: blue
colorTo: green
sdk: gradio
sdk_version: 6.31.0
app_file: app.py
pinned: false
---
"""


def write_folder(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return root


MODEL_FILES: dict[str, bytes | str] = {
    "README.md": README,
    "config.json": json.dumps({"latent_dim": 4, "hidden_dim": 32}),
    "model.safetensors": bytes(range(256)) * 40,
    "samples/grid.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
}


def as_bytes(files: dict[str, bytes | str]) -> dict[str, bytes]:
    return {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
