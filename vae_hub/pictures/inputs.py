"""Any picture of a digit -> the 28x28 input the model expects, prepared the MNIST way.

MNIST digits are white on black, size-normalised so the longer side of their bounding box is
20 pixels (anti-aliased, aspect ratio kept) and placed in a 28x28 frame with their centre of
mass at pixel (14, 14) (LeCun et al., "The MNIST database"). A photo, a scan or a Sketchpad
drawing goes through the same steps so the model sees what it was trained on.
"""

from __future__ import annotations

import warnings
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

MNIST_SIZE = 28
DIGIT_BOX = 20
MIN_SIDE = 8
MAX_PIXELS = 4096 * 4096
# Larger pictures are shrunk to this longer side before they become float arrays: the digit
# ends up 20 pixels tall anyway, and it bounds the working memory of a request.
WORKING_SIDE = 1024
NOT_AN_IMAGE = (
    "That file is not an image this demo can read. "
    "Upload a PNG, JPEG, GIF, BMP or WebP picture of a digit."
)


def check_size(width: int, height: int) -> None:
    """Refuse pictures over MAX_PIXELS, from their dimensions alone (before decoding)."""
    if width * height > MAX_PIXELS:
        raise ValueError(f"the image is {width}x{height} pixels; at most {MAX_PIXELS:,} allowed")


def open_picture(source: str | Path | bytes) -> Image.Image:
    """A picture file (path or bytes) opened lazily: PIL reads only its header, and the size
    it declares is checked before any pixel is decoded. A 10 KB compressed file can declare
    billions of pixels; this is where such a file stops."""
    try:
        with warnings.catch_warnings():  # PIL's own bomb warning: the size is checked below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(source) if isinstance(source, bytes) else source)
    except Image.DecompressionBombError:
        raise ValueError(f"the image is too large; at most {MAX_PIXELS:,} pixels allowed") from None
    except (OSError, SyntaxError, ValueError, TypeError) as e:  # what PIL raises for bad bytes
        raise ValueError(NOT_AN_IMAGE) from e
    try:
        check_size(*image.size)
    except ValueError:
        image.close()  # a file opened from a path: refused, it must not stay open
        raise
    return image


def shrink(image: Image.Image) -> Image.Image:
    """A (size-checked) picture with its longer side at most WORKING_SIDE, aspect kept."""
    if max(image.size) <= WORKING_SIDE:
        return image
    if image.mode in ("1", "P"):  # resizing these would fall back to nearest neighbour
        has_alpha = "transparency" in image.info
        image = image.convert("L" if image.mode == "1" else "RGBA" if has_alpha else "RGB")
    scale = WORKING_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX, reducing_gap=2.0)


INK_THRESHOLD = 0.1  # fraction of full contrast that counts as part of the stroke
CENTRE = 14.0  # MNIST's centres of mass average (14.0, 14.0) in 0-based pixel coordinates


def to_grey(image: Any) -> np.ndarray:
    """PIL image, numpy array or tensor -> float64 (H, W) grey levels in [0, 1].

    Handles grey, grey+alpha, RGB, RGBA, palette, 1-bit, 16-bit and float images. Transparent
    areas are filled with whichever of black or white contrasts with the visible strokes.
    The size is checked before the float copy is made.
    """
    if isinstance(image, Image.Image):
        check_size(*image.size)
        array, scale = _pil_to_array(shrink(image))
    elif isinstance(image, torch.Tensor):
        array, scale = _numpy_to_array(image.detach().cpu().numpy())
    elif isinstance(image, np.ndarray):
        array, scale = _numpy_to_array(image)
    else:
        raise ValueError(
            f"expected an image (PIL.Image, numpy array or tensor), got {type(image).__name__}"
        )
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # (C, H, W) -> (H, W, C)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise ValueError(
            f"expected an image shaped (H, W), (H, W, 1|2|3|4), got {tuple(array.shape)}"
        )
    check_size(array.shape[1], array.shape[0])
    array = array.astype(np.float64) / scale
    if array.ndim == 2:
        grey, alpha = array, None
    elif array.shape[2] in (2, 4):
        grey, alpha = _luminance(array[..., :-1]), array[..., -1]
    else:
        grey, alpha = _luminance(array), None
    if alpha is not None and alpha.min() < 1.0:
        if alpha.max() <= 0:
            raise ValueError("the image is fully transparent: nothing is drawn on it")
        visible = float((grey * alpha).sum() / alpha.sum())
        background = 1.0 if visible < 0.5 else 0.0
        grey = alpha * grey + (1 - alpha) * background
    return np.clip(grey, 0.0, 1.0)


def _pil_to_array(image: Image.Image) -> tuple[np.ndarray, float]:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        return _integer_scale(np.asarray(image, dtype=np.float64))
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        return array, 1.0 if array.max() <= 1.0 else 255.0
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        has_alpha = "A" in image.mode or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    return np.asarray(image), 255.0


def _numpy_to_array(array: np.ndarray) -> tuple[np.ndarray, float]:
    if array.dtype == np.bool_:
        return array.astype(np.float64), 1.0
    if array.dtype == np.uint8:
        return array, 255.0
    if np.issubdtype(array.dtype, np.integer):
        return _integer_scale(array)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("the image holds NaN or infinite values")
        top = array.max(initial=0.0)
        if array.min(initial=0.0) < 0 or top > 255:
            raise ValueError("float images must hold values in [0, 1] (or [0, 255])")
        return array, 1.0 if top <= 1.0 else 255.0
    raise ValueError(f"unsupported image dtype {array.dtype}")


def _integer_scale(array: np.ndarray) -> tuple[np.ndarray, float]:
    """16/32-bit integer pixels: full 16-bit range when values exceed 255, else 8-bit values
    stored in a wider type (as PIL's 8-bit -> "I;16" conversion makes)."""
    if array.min(initial=0) < 0:
        raise ValueError("integer images must not hold negative values")
    return array, 65535.0 if array.max(initial=0) > 255 else 255.0


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as PIL's "L" conversion


def to_mnist(image: Any) -> torch.Tensor:
    """Prepare any digit image the MNIST way -> float tensor (1, 28, 28) in [0, 1].

    Steps: grey levels; white-on-black (inverted when the border is bright); contrast
    stretched; cropped to the strokes; longer side scaled to 20 px; centre of mass moved to
    pixel (14, 14) of a 28x28 frame. Raises ValueError for blank, tiny or huge images.
    """
    grey = to_grey(image)
    height, width = grey.shape
    if min(height, width) < MIN_SIDE:
        raise ValueError(
            f"the image is {width}x{height} pixels; a digit needs at least {MIN_SIDE}x{MIN_SIDE}"
        )
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 0.5:
        grey = 1.0 - grey
        border = 1.0 - border
    background = float(np.median(border))
    ink = np.clip(grey - background, 0.0, None)
    contrast = float(ink.max())
    if contrast < 0.1:
        raise ValueError("the image is blank: no strokes stand out from the background")
    ink = ink / contrast
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    digit = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return torch.from_numpy(_centre(_fit_box(digit))).float().unsqueeze(0)


def _fit_box(digit: np.ndarray) -> np.ndarray:
    """Scale so the longer side is DIGIT_BOX pixels, keeping the aspect ratio (anti-aliased)."""
    h, w = digit.shape
    scale = DIGIT_BOX / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    t = torch.from_numpy(digit).float()[None, None]  # (1, 1, h, w)
    out = F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)
    out = out[0, 0].clamp(0, 1)
    return (out / out.max().clamp_min(1e-6)).numpy().astype(np.float64)  # strokes stay full ink


def _centre(digit: np.ndarray) -> np.ndarray:
    """Paste into a 28x28 frame with the centre of mass at pixel (14, 14), as in MNIST."""
    h, w = digit.shape
    total = digit.sum()
    ys, xs = np.arange(h), np.arange(w)
    cy = (digit.sum(axis=1) @ ys) / total
    cx = (digit.sum(axis=0) @ xs) / total
    top = int(np.clip(round(CENTRE - cy), 0, MNIST_SIZE - h))
    left = int(np.clip(round(CENTRE - cx), 0, MNIST_SIZE - w))
    frame = np.zeros((MNIST_SIZE, MNIST_SIZE))
    frame[top : top + h, left : left + w] = digit
    return frame


def to_model_input(picture: Any) -> torch.Tensor:
    """Any picture of a digit -> the encoder's input (1, 28, 28) in [0, 1].

    A float tensor already shaped (1, 28, 28) or (28, 28) with values in [0, 1] is taken as
    an MNIST-ready digit; anything else (PIL image, numpy array, other sizes) is prepared
    the MNIST way by `to_mnist`.
    """
    if (
        isinstance(picture, torch.Tensor)
        and picture.is_floating_point()
        and tuple(picture.shape[-2:]) == (MNIST_SIZE, MNIST_SIZE)
        and picture.dim() in (2, 3)
        and (picture.dim() == 2 or picture.shape[0] == 1)
        and picture.numel() > 0
        and picture.min().item() >= 0
        and picture.max().item() <= 1
    ):
        return picture.detach().float().reshape(1, MNIST_SIZE, MNIST_SIZE).cpu()
    return to_mnist(picture)
