"""What the page's inputs hold, made into pictures: test examples shipped with the package,
Sketchpad drawings and uploads."""

from __future__ import annotations

import base64
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image

from ..data import EXAMPLES_PER_DIGIT, load_examples, to_float
from ..pictures import NOT_AN_IMAGE, check_size, open_picture
from .params import int_in


def example_digit(digit: Any, index: Any) -> torch.Tensor:
    """Test example `index` of `digit` from the shipped examples -> (1, 28, 28)."""
    d = int_in("digit", digit, 0, 9)
    i = int_in("example index", index, 0, EXAMPLES_PER_DIGIT - 1)
    return to_float(load_examples().images[d * EXAMPLES_PER_DIGIT + i][None])[0]


def sketch_to_image(sketch: Any) -> Image.Image | np.ndarray | None:
    """The drawing of a Sketchpad value ({"composite": image, ...}), or None if empty."""
    if sketch is None:
        return None
    composite = sketch.get("composite") if isinstance(sketch, dict) else sketch
    if composite is None:
        return None
    if isinstance(composite, Image.Image):
        check_size(*composite.size)
        low, high = composite.convert("L").getextrema()
        return None if low == high else composite
    array = np.asarray(composite)
    if array.size == 0 or array.min() == array.max():
        return None
    return array


def checked_picture_input(component: gr.components.Component) -> gr.components.Component:
    """Make a picture input (gr.Image, gr.Sketchpad) check every file a request carries from
    its header before Gradio decodes it, and turn decoding errors into readable messages.

    Gradio decodes uploads (the Sketchpad's composite, background and layers always) before
    our functions run, so a 10 KB file declaring 12000x12000 pixels would cost gigabytes
    there. The check reads only the header of each file (`preprocess.open_picture`). The
    instance's preprocess is wrapped rather than subclassed: Gradio writes a .pyi stub next
    to the module of every Component subclass, which must not happen in an installed package.
    """
    decode = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            for source in _picture_files(component, payload):
                open_picture(source)
        except ValueError as e:
            raise gr.Error(str(e)) from None
        try:
            return decode(payload)
        except gr.Error:
            raise
        except Exception as e:  # PIL raises many types for bad bytes; never echo its text
            raise gr.Error(NOT_AN_IMAGE) from e

    component.preprocess = preprocess
    return component


def _picture_files(component: Any, payload: Any) -> list[str | bytes]:
    """The files (paths, or bytes of data: URLs and cached blobs) in an Image or
    ImageEditor payload."""
    if payload is None:
        return []
    if getattr(payload, "id", None) is not None:  # an ImageEditor payload sent in pieces
        cached = component.blob_storage.get(payload.id)
        blobs = [cached.background, cached.composite, *cached.layers] if cached else []
        return [blob for blob in blobs if blob]
    files = [payload]
    if hasattr(payload, "composite"):  # ImageEditor: background, layers, composite
        files = [payload.background, payload.composite, *payload.layers]
    sources: list[str | bytes] = []
    for file in files:
        if file is None:
            continue
        url = getattr(file, "url", None) or ""
        if url.startswith("data:"):
            sources.append(base64.b64decode(url.partition(",")[2]))
        elif getattr(file, "path", None):
            sources.append(file.path)
    return sources
