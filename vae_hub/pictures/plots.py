"""Pictures: image grids (torchvision), the latent map (drawn with PIL, fast enough for a
web request) and loss curves (matplotlib, Agg only).

Every file is written atomically; nothing here ever opens a window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid, save_image

from ..files.atomic import atomic_path


def image_grid(images: torch.Tensor, nrow: int, padding: int = 2) -> torch.Tensor:
    """(N, 1, 28, 28) in [0, 1] -> one grey image (1, H, W), `nrow` images per row."""
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, pad_value=0.5)
    return grid[:1]


def save_grid(images: torch.Tensor, path: str | Path, nrow: int) -> Path:
    """Save (N, 1, 28, 28) images as one PNG grid at `path`."""
    with atomic_path(path) as tmp:
        save_image(image_grid(images, nrow), tmp, format="png")
    return Path(path)


def comparison_rows(inputs: torch.Tensor, outputs: torch.Tensor, per_row: int) -> torch.Tensor:
    """Interleave rows of inputs and their reconstructions: row 2k inputs, row 2k+1 outputs."""
    n = inputs.shape[0] - inputs.shape[0] % per_row
    pairs = torch.stack(
        [
            inputs[:n].reshape(-1, per_row, *inputs.shape[1:]),
            outputs[:n].reshape(-1, per_row, *inputs.shape[1:]),
        ],
        dim=1,
    )  # (rows, 2, per_row, 1, 28, 28)
    return pairs.reshape(-1, *inputs.shape[1:])


def grid_picture(images: torch.Tensor, nrow: int, scale: int = 1) -> Image.Image:
    """(N, 1, 28, 28) in [0, 1] -> a grey PIL grid, upscaled `scale` times (nearest: crisp
    pixels)."""
    grid = image_grid(images, nrow)[0]  # (H, W)
    array = (grid.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    picture = Image.fromarray(array, mode="L")
    if scale == 1:
        return picture
    return picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)


# --- the latent map -----------------------------------------------------------------------

# matplotlib's tab10, one colour per digit
DIGIT_RGB = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # fmt: skip


@dataclass(frozen=True)
class MapFrame:
    """Where a map's data coordinates land in its picture: the plotting box in pixels and
    the data range it shows (y grows upwards in the data, downwards in the picture)."""

    left: float
    top: float
    side: float
    x_min: float
    y_min: float
    span: float

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        return (
            self.left + (x - self.x_min) / self.span * self.side,
            self.top + (1 - (y - self.y_min) / self.span) * self.side,
        )

    def to_data(self, px: float, py: float) -> tuple[float, float]:
        return (
            self.x_min + (px - self.left) / self.side * self.span,
            self.y_min + (1 - (py - self.top) / self.side) * self.span,
        )

    def contains(self, px: float, py: float) -> bool:
        return self.left <= px <= self.left + self.side and self.top <= py <= self.top + self.side


def latent_map_picture(
    xy: torch.Tensor, labels: torch.Tensor, side: int = 400, title: str | None = None
) -> tuple[Image.Image, MapFrame]:
    """Points (P, 2) coloured by digit (P,) in a square box `side` pixels wide, a legend on
    the right; drawn with PIL (fast enough to redraw per request). Returns the picture and
    the frame that maps data coordinates to its pixels and back."""
    pad, legend, head = side // 40 + 2, side // 6, (side // 14 if title else 0)
    picture = Image.new("RGB", (side + 2 * pad + legend, side + 2 * pad + head), "white")
    draw = ImageDraw.Draw(picture)
    xy = xy.detach().float().cpu()
    low, high = xy.min(0).values, xy.max(0).values
    span = float((high - low).max().clamp_min(1e-6)) * 1.04
    centre = (low + high) / 2
    frame = MapFrame(
        pad, pad + head, side, float(centre[0]) - span / 2, float(centre[1]) - span / 2, span
    )
    radius = max(1.5, side / 250)
    for (x, y), label in zip(xy.tolist(), labels.tolist(), strict=True):
        if 0 <= label < len(DIGIT_RGB):
            px, py = frame.to_pixel(x, y)
            draw.ellipse((px - radius, py - radius, px + radius, py + radius), DIGIT_RGB[label])
    font = ImageFont.load_default(size=max(10, side // 28))
    if title:
        draw.text((pad, pad // 2), title, fill="black", font=font)
    step = side / 12
    for digit, colour in enumerate(DIGIT_RGB):
        cx, cy = side + 2 * pad + legend * 0.25, pad + head + step * (digit + 1)
        draw.ellipse((cx - 4, cy - 4, cx + 4, cy + 4), colour)
        draw.text((cx + 10, cy), str(digit), fill="black", font=font, anchor="lm")
    return picture, frame


def mark(
    picture: Image.Image,
    at: tuple[float, float],
    label: str | None = None,
    cloud: list[tuple[float, float]] = (),
) -> Image.Image:
    """A copy of `picture` with a star at pixel `at` (and a label beside it), over a cloud
    of small open rings at the pixels of `cloud` (draws around the star)."""
    marked = picture.copy()
    draw = ImageDraw.Draw(marked)
    ring = max(3.0, picture.height / 110)
    for cx, cy in cloud:
        draw.ellipse((cx - ring, cy - ring, cx + ring, cy + ring), outline="black", width=1)
    x, y = at
    size = max(8.0, picture.height / 40)
    star = [
        (x + (size if i % 2 == 0 else size / 2.4) * math.sin(i * math.pi / 5),
         y - (size if i % 2 == 0 else size / 2.4) * math.cos(i * math.pi / 5))
        for i in range(10)
    ]  # fmt: skip
    draw.polygon(star, fill="black", outline="white", width=2)
    if label:
        font = ImageFont.load_default(size=max(10, picture.height // 30))
        box = draw.textbbox((x + size + 4, y - size), label, font=font)
        draw.rectangle((box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2), fill="white")
        draw.text((x + size + 4, y - size), label, fill="black", font=font)
    return marked


def save_latent_scatter(
    xy: torch.Tensor, labels: torch.Tensor, path: str | Path, title: str
) -> Path:
    """The latent map (`latent_map_picture`) as a PNG file."""
    picture, _ = latent_map_picture(xy, labels, side=640, title=title)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="png")
    return Path(path)


def _pyplot():
    """pyplot, imported on first use: only training's loss curves need it, and importing it
    would slow every start of the demo."""
    import matplotlib

    matplotlib.use("Agg", force=False)  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    _pyplot().close(fig)
    return Path(path)


def save_loss_curves(history: list[dict], path: str | Path) -> Path:
    """Train and test reconstruction, KL and total (nats per image) against epochs."""
    fig = _pyplot().figure(figsize=(11, 3.4), dpi=100)
    epochs = [h["epoch"] for h in history]
    for i, part in enumerate(("total", "reconstruction", "kl")):
        ax = fig.add_subplot(1, 3, i + 1)
        for split in ("train", "test"):
            values = [h[split][part] for h in history]
            ax.plot(epochs, values, marker="o", markersize=3, label=split)
        ax.set_title(f"{part} (nats/image)")
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    return _save_figure(fig, path)
