"""Pictures written to disk: image grids (torchvision) and figures (matplotlib, Agg only).

Every file is written atomically; nothing here ever opens a window.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid, save_image

from .atomic import atomic_path

DIGIT_COLOURS = "tab10"


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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)  # files and pictures only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    _pyplot().close(fig)
    return Path(path)


def figure_to_picture(fig, dpi: int = 100) -> Image.Image:
    """Render a matplotlib figure to an RGB PIL image and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=dpi)
    _pyplot().close(fig)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def latent_map_figure(
    xy: torch.Tensor,
    labels: torch.Tensor,
    *,
    title: str | None = None,
    xlabel: str | None = None,
    highlight: torch.Tensor | None = None,
    highlight_label: str = "your digit",
    figsize: tuple[float, float] = (7, 6),
):
    """Scatter of 2-D points (P, 2) coloured by digit (P,), with a legend; `highlight` (2,)
    adds a labelled star at that position."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=figsize, dpi=100)
    cmap = plt.get_cmap(DIGIT_COLOURS)
    xy, labels = xy.detach().float().cpu().numpy(), labels.cpu().numpy()
    for digit in range(10):
        mask = labels == digit
        if mask.any():
            ax.scatter(xy[mask, 0], xy[mask, 1], s=5, color=cmap(digit), label=str(digit))
    ax.legend(title="digit", markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if highlight is not None:
        x, y = float(highlight[0]), float(highlight[1])
        ax.scatter([x], [y], s=300, marker="*", color="black", edgecolor="white",
                   linewidth=1.5, zorder=5)  # fmt: skip
        ax.annotate(
            highlight_label,
            (x, y),
            xytext=(10, 10),
            textcoords="offset points",
            fontsize=11,
            weight="bold",
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
        )
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def save_latent_scatter(
    xy: torch.Tensor, labels: torch.Tensor, path: str | Path, title: str
) -> Path:
    """The latent map (`latent_map_figure`) as a PNG file."""
    return _save_figure(latent_map_figure(xy, labels, title=title), path)


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
