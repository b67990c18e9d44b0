"""What a model card says beyond the model itself: the training record, the evaluation
(table rows and model-index metadata) and the pictures, drawn into the model folder.

`VAE.generate_model_card` fills the MODEL_CARD.md template with what the model knows about
itself; this module adds what only a finished run knows, as the template's keyword values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import EvalResult, ModelCard

from .. import plots
from ..evaluation.report import METRICS, metric_label, metric_value
from ..generation import digit_transit, generate_digit, sample
from ..model import NUM_CLASSES, VAE

TRANSIT_DIGITS = (2, 7)
IMAGE_FILES = {
    "samples": "samples.png",
    "digits": "digits.png",
    "transit": "digit_transit.png",
    "latent_map": "latent_map.png",
    "loss_curves": "loss_curves.png",
}


def eval_results(metrics: dict) -> list[EvalResult]:
    """metrics.json as the card's model-index entries (what the Hub shows as results)."""
    return [
        EvalResult(
            task_type="unconditional-image-generation",
            task_name="Image generation",
            dataset_type="mnist",
            dataset_name="MNIST",
            dataset_split="test",
            metric_type=metric_type,
            metric_name=metric_label(key, metrics),
            metric_value=metrics[key],
        )
        for key, (label, metric_type, _) in METRICS.items()
        if metrics.get(key) is not None
    ]


def metric_rows(metrics: dict) -> list[tuple[str, str]]:
    """(label, formatted value) per metric, the IWAE row saying on what it was measured."""
    rows = []
    for key in METRICS:
        if metrics.get(key) is None:
            continue
        label = metric_label(key, metrics)
        if key == "iwae_nll" and metrics.get("iwae_k"):
            label = f"{label} ({_iwae_setting(metrics)})"
        if key == "amortisation_gap" and metrics.get("amortisation_gap_steps"):
            label = (
                f"{label}, {metrics['amortisation_gap_images']:,} images, "
                f"{metrics['amortisation_gap_steps']} Adam steps each"
            )
        rows.append((label, metric_value(key, metrics)))
    return rows


def _iwae_setting(metrics: dict) -> str:
    """ "k=1000" for the whole split; for a subset (see MnistSplit.spread) how the number
    was made from it."""
    images, split = metrics.get("iwae_images"), metrics.get("split_size")
    if images and split and images < split:
        if metrics.get("iwae_estimate") == "split ELBO minus subset gap":
            return (
                f"k={metrics['iwae_k']}: the split's ELBO minus the ELBO-IWAE gap on "
                f"{images:,} images spread through it"
            )
        return f"k={metrics['iwae_k']}, {images:,} images spread through the split"
    return f"k={metrics['iwae_k']}"


def card_values(
    *,
    model_id: str | None = None,
    training: dict | None = None,
    metrics: dict | None = None,
    images: dict | None = None,
) -> dict[str, Any]:
    """The template values only a run knows (`model_card_kwargs` of save_pretrained)."""
    values: dict[str, Any] = {"training": training, "metrics": metrics, "images": images or {}}
    if model_id:
        values["model_id"] = model_id
    if training:
        values["training_command"] = training.get("command", "")
    if metrics:
        values["metric_rows"] = metric_rows(metrics)
        values["eval_results"] = eval_results(metrics)
    return values


def render_card(model: VAE, **values: Any) -> ModelCard:
    """The card of `model` with a run's record (see `card_values`)."""
    return model.generate_model_card(**card_values(**values))


def draw_card_images(model: VAE, folder: Path, history: list[dict] | None) -> dict[str, str]:
    """Draw the card's pictures into `folder`; returns {name: file name} of those drawn."""
    drawn = {
        "samples": plots.save_grid(sample(model, 64, seed=0), folder / IMAGE_FILES["samples"], 8)
    }
    if model.can_draw_digits:
        rows = [generate_digit(model, d, 10, seed=d) for d in range(NUM_CLASSES)]
        drawn["digits"] = plots.save_grid(torch.cat(rows), folder / IMAGE_FILES["digits"], 10)
        drawn["transit"] = plots.save_grid(
            digit_transit(model, *TRANSIT_DIGITS, steps=12), folder / IMAGE_FILES["transit"], 12
        )
    if model.has_latent_map:
        drawn["latent_map"] = plots.save_latent_scatter(
            model.latent_map_xy,
            model.latent_map_labels,
            folder / IMAGE_FILES["latent_map"],
            title="t-SNE of test-set latent means",
        )
    complete = [h for h in history or [] if not h.get("partial")]
    if complete:
        drawn["loss_curves"] = plots.save_loss_curves(complete, folder / IMAGE_FILES["loss_curves"])
    return {name: path.name for name, path in drawn.items()}


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
