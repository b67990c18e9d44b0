"""Pictures written to disk: image grids (torchvision) and figures (matplotlib, Agg only).

Every file is written atomically; nothing here ever opens a window.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from .files import atomic_path

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


def _figure(figsize: tuple[float, float]):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt, plt.figure(figsize=figsize, dpi=100)


def _save_figure(plt, fig, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def save_latent_scatter(
    xy: torch.Tensor, labels: torch.Tensor, path: str | Path, title: str
) -> Path:
    """Scatter plot of 2-D points coloured by digit, with a legend."""
    plt, fig = _figure((7, 6))
    ax = fig.add_subplot(1, 1, 1)
    cmap = plt.get_cmap(DIGIT_COLOURS)
    xy, labels = xy.cpu().numpy(), labels.cpu().numpy()
    for digit in range(10):
        mask = labels == digit
        if mask.any():
            ax.scatter(xy[mask, 0], xy[mask, 1], s=6, color=cmap(digit), label=str(digit))
    ax.legend(title="digit", markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return _save_figure(plt, fig, path)


def save_loss_curves(history: list[dict], path: str | Path) -> Path:
    """Train and test reconstruction, KL and total (nats per image) against epochs."""
    plt, fig = _figure((11, 3.4))
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
    return _save_figure(plt, fig, path)
