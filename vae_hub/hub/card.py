"""What a model card says beyond the model itself: the training record, the evaluation
(table rows and model-index metadata) and the pictures, drawn into the model folder.

`VAE.generate_model_card` fills the MODEL_CARD.md template with what the model knows about
itself; this module adds what only a finished run knows, as the template's keyword values.
Text from a run's records reaches the card escaped for the place it lands in (the card is
Markdown, and the Hub renders some HTML in it): a record can never add a tag or a table cell.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import EvalResult, ModelCard

from ..capabilities.generation import digit_transit, generate_digit, sample
from ..errors import InvalidModelError, UnsafeFileError
from ..evaluation.report import METRICS, metric_label, metric_value
from ..files.bundled import bundled_folder
from ..files.model_files import DECODER_ONNX
from ..files.regular_files import open_regular
from ..model.priors import NUM_CLASSES
from ..model.vae import VAE
from ..pictures import plots

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
    decoder_onnx: bool | None = None,
) -> dict[str, Any]:
    """The template values only a run knows (`model_card_kwargs` of save_pretrained);
    `decoder_onnx`: whether the folder holds decoder.onnx (save_pretrained states it itself)."""
    values: dict[str, Any] = {
        "training": _escaped_training(training) if training else training,
        "metrics": _escaped_metrics(metrics) if metrics else metrics,
        "images": images or {},
    }
    if decoder_onnx is not None:
        values["decoder_onnx"] = decoder_onnx
    if model_id:
        values["model_id"] = model_id
        values["bundled"] = is_bundled(model_id)
    if training:
        values["training_command"] = code_block_text(training.get("command") or "")
    if metrics:
        values["metric_rows"] = [
            (markdown_text(label), markdown_text(value)) for label, value in metric_rows(metrics)
        ]
        values["eval_results"] = eval_results(metrics)
    return values


def is_bundled(model_id: str) -> bool:
    """Whether a card's `model_id` is the bundled model's folder, which its snippet then
    loads by the name that works from any folder, `vae_hub.BUNDLED`."""
    path = Path(model_id).expanduser()
    return path.is_dir() and path.resolve() == bundled_folder().resolve()


def markdown_text(text: str) -> str:
    """`text` as literal Markdown text, fit for a table cell: HTML's &, < and > as entities,
    Markdown's punctuation and the cell separator | backslash-escaped, one line."""
    text = re.sub(r"([\\`*_\[\]|~#!])", r"\\\1", " ".join(str(text).split()))
    return html.escape(text, quote=False)


def code_span_text(text: str, in_table: bool = False) -> str:
    """`text` for inside a `code span`: one line, backticks (which would end it) as ', and
    in a table cell | as \\| (GitHub-flavoured tables split cells before code spans)."""
    text = " ".join(str(text).split()).replace("`", "'")
    return text.replace("|", "\\|") if in_table else text


def code_block_text(text: str) -> str:
    """`text` for a line of a fenced code block: one line, so it cannot end the block."""
    return " ".join(str(text).split())


def _escaped(value: Any) -> Any:
    """Every string in `value` (nested in dicts and lists) as literal Markdown text."""
    if isinstance(value, str):
        return markdown_text(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def _escaped_training(training: dict) -> dict:
    """training.json for the template: text escaped, what it quotes as code quoted so."""
    escaped = _escaped(training)
    config = training.get("config") or {}
    if config.get("init_from") is not None:  # a code span in a table cell
        escaped["config"]["init_from"] = code_span_text(config["init_from"], in_table=True)
    return escaped


def _escaped_metrics(metrics: dict) -> dict:
    """metrics.json for the template: text escaped, the command and profile quoted as code."""
    escaped = _escaped(metrics)
    for key in ("command", "profile"):
        if metrics.get(key) is not None:
            escaped[key] = code_span_text(metrics[key])
    return escaped


def render_card(model: VAE, **values: Any) -> ModelCard:
    """The card of `model` with a run's record (see `card_values`)."""
    return model.generate_model_card(**card_values(**values))


def card_pictures(folder: Path) -> dict[str, str]:
    """{name: file name} of the card's pictures that `folder` holds, each checked to be a
    regular file of it (a link, FIFO or device: InvalidModelError naming it), as the card
    links them and a push uploads them."""
    found = {}
    for name, file in IMAGE_FILES.items():
        if os.path.lexists(folder / file):
            try:
                with open_regular(folder / file):
                    found[name] = file
            except UnsafeFileError as e:
                raise InvalidModelError(str(e)) from e
    return found


def has_decoder_onnx(folder: Path) -> bool:
    """Whether `folder` holds a decoder.onnx for the card to list: a regular file of it
    (a link, FIFO or device: InvalidModelError naming it, as for the pictures)."""
    if not os.path.lexists(folder / DECODER_ONNX):
        return False
    try:
        with open_regular(folder / DECODER_ONNX):
            return True
    except UnsafeFileError as e:
        raise InvalidModelError(str(e)) from e


def draw_card_images(model: VAE, folder: Path, history: list[dict] | None) -> dict[str, str]:
    """Draw the card's pictures into `folder`; returns {name: file name} of those drawn."""
    drawn = {
        "samples": plots.save_grid(sample(model, 64, seed=0), folder / IMAGE_FILES["samples"], 8)
    }
    if model.prior.can_draw_digits:
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
