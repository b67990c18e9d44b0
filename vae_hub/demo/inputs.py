"""What the page's inputs hold, made into pictures: test examples shipped with the package,
Sketchpad drawings and uploads."""

from __future__ import annotations

import base64
import functools
import threading
from collections import OrderedDict
from typing import Any

import gradio as gr
import numpy as np
import torch
from fastapi import HTTPException
from PIL import Image

from ..files.mnist import EXAMPLES_PER_DIGIT, load_examples, to_float
from ..pictures.inputs import NOT_AN_IMAGE, check_size, open_picture
from .params import int_in

DRAWINGS_HELD = 64  # Sketchpad drawings sent in pieces and waiting for their event
DRAWING_BYTES = 16 * 2**20  # their pieces together; the oldest drawings go first
MAX_LAYER = 3  # the Sketchpad's layers are numbered from 0 (the page draws on one)


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


class Click(gr.SelectData):
    """gr.SelectData for a click on a picture, from any event data a request carries.

    Gradio builds the event data object before the handler (and its guard) runs, and
    gr.SelectData reads `data["index"]`: a crafted event without one would end in a
    traceback. Here a missing or malformed position is None, which the handler refuses
    as a visitor's mistake."""

    def __init__(self, target: Any, data: Any):
        data = data if isinstance(data, dict) else {}
        super().__init__(target, {"index": None, "value": None, **data})


def checked_picture_input(component: gr.components.Component) -> gr.components.Component:
    """Make a picture input (gr.Image, gr.Sketchpad) check every file a request carries from
    its header before Gradio decodes it, and turn decoding errors into readable messages.

    Gradio decodes uploads (the Sketchpad's composite, background and layers always) before
    our functions run, so a 10 KB file declaring 12000x12000 pixels would cost gigabytes
    there. The check reads only the header of each file (`preprocess.open_picture`). The
    instance's preprocess is wrapped rather than subclassed: Gradio writes a .pyi stub next
    to the module of every Component subclass, which must not happen in an installed package.
    A Sketchpad's pieces sent ahead of their event are bounded too (`_bound_pieces`).
    """
    decode = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            for source in _picture_files(component, payload):
                with open_picture(source):  # its header checked; closed again
                    pass
        except ValueError as e:
            raise gr.Error(str(e), print_exception=False) from None
        try:
            return decode(payload)
        except gr.Error:
            raise
        except Exception as e:  # PIL raises many types for bad bytes; never echo its text
            raise gr.Error(NOT_AN_IMAGE, print_exception=False) from e

    component.preprocess = preprocess
    if hasattr(component, "accept_blobs"):
        _bound_pieces(component)
    return component


class HeldDrawings(OrderedDict):
    """An ImageEditor's `blob_storage` (drawing id -> its pieces) that holds at most
    DRAWINGS_HELD drawings and DRAWING_BYTES of pieces, dropping the oldest first. Gradio's
    own dict keeps every drawing whose event never comes, for the server's life."""

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()

    def __setitem__(self, key: str, pieces: Any) -> None:
        with self._lock:
            super().__setitem__(key, pieces)
            self.move_to_end(key)
            while len(self) > 1 and (
                len(self) > DRAWINGS_HELD or sum(map(_piece_bytes, self.values())) > DRAWING_BYTES
            ):
                self.popitem(last=False)


def _piece_bytes(pieces: Any) -> int:
    blobs = [pieces.background, pieces.composite, *pieces.layers]
    return sum(len(blob) for blob in blobs if blob)


def _bound_pieces(editor: Any) -> None:
    """Hold an ImageEditor's pieces in `HeldDrawings`, and refuse a layer number beyond
    MAX_LAYER: Gradio's `accept_blobs` grows a list up to the number a request names (one
    request could ask for a billion entries)."""
    editor.blob_storage = HeldDrawings()
    accept = editor.accept_blobs

    @functools.wraps(accept)
    def accept_blobs(data: Any) -> Any:
        index = str(data.data.get("index") or "null")
        if index != "null" and not (index.isdigit() and int(index) <= MAX_LAYER):
            raise HTTPException(400, f"layer must be a number from 0 to {MAX_LAYER}")
        return accept(data)

    editor.accept_blobs = accept_blobs  # keeps `_is_server_fn`, which Gradio checks


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
