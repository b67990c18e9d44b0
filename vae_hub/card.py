"""The model card (README.md of a model folder) and the pictures it shows.

The card is rendered from the top-level MODEL_CARD.md template with huggingface_hub's
ModelCard / ModelCardData, so its YAML front matter (library, license, tags, datasets,
pipeline tag, model-index) is what the Hub parses.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from . import plots
from .evaluation import METRICS
from .files import atomic_directory, atomic_write_json
from .generation import digit_transit, generate_digit, sample
from .model import NUM_CLASSES, REPO_URL, VAE

TEMPLATE = ("templates", "MODEL_CARD.md")
TRANSIT_DIGITS = (2, 7)
IMAGE_FILES = {
    "samples": "samples.png",
    "digits": "digits.png",
    "transit": "digit_transit.png",
    "latent_map": "latent_map.png",
    "loss_curves": "loss_curves.png",
}


def describe_arch(config: dict) -> str:
    c, h, d = config["channels"], config["hidden_dim"], config["latent_dim"]
    return {
        "conv": (
            f"`conv` (vae-hub): strided convs 28->14->7 with residual blocks (one at 14x14, "
            f"two at 7x7; {c} channels, SiLU), FC {h}, and its mirror-image decoder"
        ),
        "genzoo": (
            "`genzoo`: the original GenZoo conv VAE (convs 1-16-32-16 with max-pool and "
            "BatchNorm, FC 784-512-256 with dropout 0.2; linear FC and transposed-conv decoder)"
        ),
        "mlp": f"`mlp`: the PyTorch-examples MLP VAE, 784-{h}-{d} with ReLU",
    }[config["arch"]]


def describe_posterior(config: dict) -> str:
    steps = config.get("flow_steps", 0)
    if not steps:
        return "diagonal Gaussian"
    return (
        f"diagonal Gaussian followed by {steps} inverse autoregressive flow steps "
        f"(Kingma et al. 2016), conditioned on the encoder's features"
    )


def template_text() -> str:
    return resources.files("vae_hub").joinpath(*TEMPLATE).read_text(encoding="utf-8")


def card_data(model: VAE, metrics: dict | None, title: str) -> ModelCardData:
    data = ModelCardData(**model._hub_mixin_info.model_card_data.to_dict())
    data.datasets = ["mnist"]
    data.model_name = title
    if metrics:
        data.eval_results = [
            EvalResult(
                task_type="unconditional-image-generation",
                task_name="Image generation",
                dataset_type="mnist",
                dataset_name="MNIST",
                dataset_split="test",
                metric_type=metric_type,
                metric_name=label.strip(),
                metric_value=metrics[key],
            )
            for key, (label, metric_type, _) in METRICS.items()
            if metrics.get(key) is not None
        ]
    return data


# Options about the training machine or the invocation, not the recipe.
LOCAL_OPTIONS = {
    "output_dir",
    "data_dir",
    "download",
    "exp_name",
    "progress",
    "eval",
    "threads",
    "device",
    "push",
    "private",
    "resume",
    "overwrite",
}


def training_command(training: dict) -> str:
    """The train.py command that repeats the recipe (local paths left out)."""
    from .config import FIELDS

    flags = [
        f"--{name.replace('_', '-')} {value}"
        if not isinstance(value, bool)
        else f"--{'' if value else 'no-'}{name.replace('_', '-')}"
        for name, value in training.get("config", {}).items()
        if name in FIELDS
        and name not in LOCAL_OPTIONS
        and value != FIELDS[name].default
        and value is not None
    ]
    return " ".join(["python train.py", *flags])


def _iwae_setting(metrics: dict) -> str:
    """ "k=1000" for the whole split, "k=1000, 2,000 images spread through the split" for
    a subset (see MnistSplit.spread)."""
    images, split = metrics.get("iwae_images"), metrics.get("split_size")
    if images and split and images < split:
        return f"k={metrics['iwae_k']}, {images:,} images spread through the split"
    return f"k={metrics['iwae_k']}"


def render_model_card(
    model: VAE,
    *,
    model_id: str | None = None,
    training: dict | None = None,
    metrics: dict | None = None,
    images: dict | None = None,
    **_: Any,
) -> ModelCard:
    """Fill MODEL_CARD.md for `model`. Sections without data say so instead of guessing."""
    config = model.config
    title = f"vae-hub MNIST VAE ({config['arch']}, latent {config['latent_dim']})"
    num_parameters = sum(p.numel() for p in model.parameters())
    stored = [
        "per-digit latent Gaussians" if model.has_class_gaussians else None,
        f"a {model.latent_map_labels.shape[0]}-point latent map" if model.has_latent_map else None,
    ]
    stored_text = ", ".join(s for s in stored if s) or "nothing yet (fitted at the end of training)"
    rows = [
        (label, fmt.format(metrics[key]))
        for key, (label, _, fmt) in METRICS.items()
        if metrics and metrics.get(key) is not None
    ]
    if metrics and metrics.get("iwae_k"):
        rows = [
            (f"{label} ({_iwae_setting(metrics)})" if label.startswith("IWAE") else label, value)
            for label, value in rows
        ]
    card = ModelCard.from_template(
        card_data(model, metrics, title),
        template_str=template_text(),
        title=title,
        repo_url=REPO_URL,
        model_id=model_id or "path/to/this/folder",
        config=config,
        arch_description=describe_arch(config),
        posterior=describe_posterior(config),
        num_parameters=num_parameters,
        size_mb=num_parameters * 4 / 1e6,
        likelihood=(
            "Bernoulli on binarized pixels" if config["binarized"] else "Bernoulli on grey levels"
        ),
        stored=stored_text,
        training=training,
        training_command=training_command(training) if training else "",
        metrics=metrics,
        metric_rows=rows,
        images=images or {},
    )
    return ModelCard(re.sub(r"\n{3,}", "\n\n", str(card)))  # drop template blank lines


def draw_card_images(model: VAE, folder: Path, history: list[dict] | None) -> dict[str, str]:
    """Draw the card's pictures into `folder`; returns {name: file name} of those drawn."""
    drawn = {
        "samples": plots.save_grid(sample(model, 64, seed=0), folder / IMAGE_FILES["samples"], 8)
    }
    if model.has_class_gaussians:
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


def write_model_folder(
    model: VAE,
    folder: str | Path,
    *,
    training: dict | None = None,
    metrics: dict | None = None,
    model_id: str | None = None,
) -> Path:
    """Write a complete, Hub-ready model folder atomically: config.json, model.safetensors,
    README.md (the card), the card's pictures, and training.json / metrics.json if given."""
    folder = Path(folder)
    with atomic_directory(folder) as tmp:
        images = draw_card_images(model, tmp, training.get("history") if training else None)
        if training:
            atomic_write_json(tmp / "training.json", training)
        if metrics:
            atomic_write_json(tmp / "metrics.json", metrics)
        model.save_pretrained(
            tmp,
            model_card_kwargs={
                "model_id": model_id or str(folder),
                "training": training,
                "metrics": metrics,
                "images": images,
            },
        )
    return folder


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
