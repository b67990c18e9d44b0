"""Model folders and Spaces: writing a complete, Hub-ready model folder, publishing it to a
model repo, and exporting the demo as a Space.

Uploads go from a staged copy, so a failed push never changes the local folder, and the
staged model card names the repo it is pushed to (its usage snippet loads that repo).
"""

from __future__ import annotations

import shutil
import tempfile
from importlib import metadata, resources
from pathlib import Path

from huggingface_hub import SpaceCard, SpaceCardData

from ..atomic import atomic_directory, atomic_write_json
from ..model import VAE
from ..model_files import CONFIG_NAME, WEIGHTS_NAME, looks_like_local_path
from .card import IMAGE_FILES, card_values, draw_card_images, read_json, render_card
from .client import check_repo_id, push_command, upload_folder

CARD_NAME = "README.md"
TRAINING_NAME = "training.json"
METRICS_NAME = "metrics.json"
MODEL_FILES = [
    CONFIG_NAME,
    WEIGHTS_NAME,
    CARD_NAME,
    METRICS_NAME,
    TRAINING_NAME,
    *IMAGE_FILES.values(),
]
SPACE_REQUIREMENTS = [
    "torch",
    "torchvision",
    "gradio",
    "huggingface_hub",
    "safetensors",
    "scikit-learn",
    "scipy",
    "matplotlib",
    "numpy",
    "pillow",
    "tqdm",
]
APP_TEMPLATE = ("templates", "app.py")
DEFAULT_MODEL_LINE = "DEFAULT_MODEL: str | None = None"


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
            atomic_write_json(tmp / TRAINING_NAME, training)
        if metrics:
            atomic_write_json(tmp / METRICS_NAME, metrics)
        model.save_pretrained(
            tmp,
            model_card_kwargs=card_values(
                model_id=model_id or str(folder),
                training=training,
                metrics=metrics,
                images=images,
            ),
        )
    return folder


def model_card_for(folder: Path, model_id: str, model: VAE | None = None) -> str:
    """The README.md of `folder` re-rendered so its usage snippet loads `model_id`.
    `model` is the folder's model when the caller has loaded it already."""
    model = model if model is not None else VAE.from_pretrained(folder)
    images = {name: file for name, file in IMAGE_FILES.items() if (folder / file).is_file()}
    card = render_card(
        model,
        model_id=model_id,
        training=read_json(folder / TRAINING_NAME),
        metrics=read_json(folder / METRICS_NAME),
        images=images,
    )
    return str(card)


def push_model(
    folder: str | Path, repo_id: str, *, token: str | None = None, private: bool | None = None
) -> str:
    """Upload a model folder (written by train.py or save_pretrained) to `repo_id`."""
    folder = Path(folder)
    check_repo_id(repo_id)
    model = VAE.from_pretrained(folder)  # refuse to publish something that does not load
    with tempfile.TemporaryDirectory(prefix="vae-hub-push-") as tmp:
        staged = Path(tmp)
        for name in MODEL_FILES:
            if (folder / name).is_file():
                shutil.copy2(folder / name, staged / name)
        (staged / CARD_NAME).write_text(model_card_for(folder, repo_id, model), encoding="utf-8")
        return upload_folder(
            staged,
            repo_id,
            token=token,
            private=private,
            allow_patterns=MODEL_FILES,
            commit_message="Upload vae-hub model",
            retry_command=push_command(folder, repo_id, private=private),
        )


# --- Spaces ---------------------------------------------------------------------------------


def pinned_requirements() -> str:
    """requirements.txt pinned to the versions installed here, which are known to work
    together (they are what the test suite ran with)."""
    return "".join(f"{name}=={metadata.version(name)}\n" for name in SPACE_REQUIREMENTS)


def space_card(model: str, hub_model: bool) -> str:
    data = SpaceCardData(
        title="vae-hub MNIST VAE",
        emoji="✍️",
        colorFrom="indigo",
        colorTo="green",
        sdk="gradio",
        sdk_version=metadata.version("gradio"),
        python_version="3.11",
        app_file="app.py",
        models=[model] if hub_model else None,
        license="mit",
        short_description="Sample, morph, generate and reconstruct MNIST digits with a VAE",
        pinned=False,
    )
    source = f"[{model}](https://huggingface.co/{model})" if hub_model else "the bundled model"
    body = (
        "# vae-hub MNIST VAE\n\n"
        f"An interactive demo of a variational autoencoder trained on MNIST, serving {source}: "
        "sample new digits, morph one digit into another, generate a chosen digit, "
        "reconstruct your own drawing and explore the latent map.\n\n"
        "Run it locally with `pip install -r requirements.txt && python app.py`.\n"
    )
    return str(SpaceCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + body))


def export_space(out_dir: str | Path, model: str) -> Path:
    """Write a ready-to-run Space folder: app.py, the vae_hub package, requirements.txt and
    README.md with the Space front matter. `model` is a Hub repo id (loaded at start) or a
    local model folder (copied in as ./model)."""
    out_dir = Path(out_dir)
    local = looks_like_local_path(model) or Path(model).is_dir()
    if local:
        VAE.from_pretrained(model)  # it must load before we ship it
    else:
        check_repo_id(model)
    package = Path(str(resources.files("vae_hub")))
    app = package.joinpath(*APP_TEMPLATE).read_text(encoding="utf-8")
    if DEFAULT_MODEL_LINE not in app:
        raise RuntimeError(f"app.py no longer has the line {DEFAULT_MODEL_LINE!r}")
    baked = "model" if local else model
    app = app.replace(DEFAULT_MODEL_LINE, f"DEFAULT_MODEL: str | None = {baked!r}")
    with atomic_directory(out_dir) as tmp:
        (tmp / "app.py").write_text(app, encoding="utf-8")
        shutil.copytree(
            package,
            tmp / "vae_hub",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "pretrained", "templates"),
        )
        templates = tmp / "vae_hub" / "templates"
        templates.mkdir()
        for name in ("MODEL_CARD.md", "app.py"):  # resolve the symlinks into real files
            shutil.copyfile(package / "templates" / name, templates / name)
        if local:
            model_dir = tmp / "model"
            model_dir.mkdir()
            for name in MODEL_FILES:
                if (Path(model) / name).is_file():
                    shutil.copy2(Path(model) / name, model_dir / name)
        (tmp / "requirements.txt").write_text(pinned_requirements(), encoding="utf-8")
        (tmp / "README.md").write_text(space_card(model, hub_model=not local), encoding="utf-8")
    return out_dir


def push_space(
    folder: str | Path, space_id: str, *, token: str | None = None, private: bool | None = None
) -> str:
    check_repo_id(space_id)
    return upload_folder(
        folder,
        space_id,
        token=token,
        private=private,
        repo_type="space",
        commit_message="Upload vae-hub demo Space",
        retry_command=push_command(folder, space_id, repo_type="space", private=private),
    )
