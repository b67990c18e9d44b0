"""Model folders and Spaces: writing a complete, Hub-ready model folder, publishing it to a
model repo, and exporting the demo as a Space.

Uploads go from a staged copy, so a failed push never changes the local folder, and the
staged model card names the repo it is pushed to (its usage snippet loads that repo).
Whatever is copied out of a folder (staged, or put in a Space) is the bytes of a regular file
of it, read through `regular_files`: a link, FIFO or device is refused by name, never
followed to a secret elsewhere on the machine.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from importlib import metadata, resources
from pathlib import Path

from huggingface_hub import SpaceCard, SpaceCardData

from ..errors import ConfigError
from ..files.atomic import atomic_directory, atomic_write_json
from ..files.model_files import CONFIG_NAME, DECODER_ONNX, WEIGHTS_NAME, looks_like_local_path
from ..files.regular_files import copy_regular
from ..model.onnx import write_decoder
from ..model.vae import VAE
from .card import (
    IMAGE_FILES,
    card_pictures,
    card_values,
    draw_card_images,
    has_decoder_onnx,
    render_card,
)
from .client import check_repo_id, push_command, upload_folder
from .records import METRICS_NAME, TRAINING_NAME, read_record

CARD_NAME = "README.md"
# Beside the weights (checked by loading them), a model folder's files are a few KB to a few
# hundred KB: a stranger's folder may not make an upload or a Space many times that size.
MAX_SIDE_FILE_BYTES = 16 * 1024 * 1024
# `vae-hub space` writes this file into every Space, and replaces only a folder holding it
SPACE_MARKER = ".vae-hub-space"
# The files copied out of a model folder as its own bytes; decoder.onnx is never among them:
# it is exported again from the weights that loaded (a stranger's could decode anything).
COPIED_FILES = [
    CONFIG_NAME,
    WEIGHTS_NAME,
    CARD_NAME,
    METRICS_NAME,
    TRAINING_NAME,
    *IMAGE_FILES.values(),
]
MODEL_FILES = [*COPIED_FILES, DECODER_ONNX]
SPACE_REQUIREMENTS = [
    "torch",
    "torchvision",
    "gradio",
    "huggingface_hub",
    "markdown-it-py",
    "onnx",  # with onnxscript: the page's decoder.onnx, exported for a Hub repo's model
    "onnxscript",
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
    decoder_onnx: bool = True,
) -> Path:
    """Write a complete, Hub-ready model folder atomically: config.json, model.safetensors,
    README.md (the card), the card's pictures, decoder.onnx (for browsers, unless
    `decoder_onnx` is False), and training.json / metrics.json if given."""
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
            decoder_onnx=decoder_onnx,
        )
    return folder


def model_card_for(
    folder: Path, model_id: str, model: VAE | None = None, decoder_onnx: bool | None = None
) -> str:
    """The README.md of `folder` re-rendered so its usage snippet loads `model_id`.
    `model` is the folder's model when the caller has loaded it already; `decoder_onnx`
    whether the card lists decoder.onnx (default: whether `folder` holds it)."""
    model = model if model is not None else VAE.from_pretrained(folder)
    card = render_card(
        model,
        model_id=model_id,
        training=read_record(folder, TRAINING_NAME),
        metrics=read_record(folder, METRICS_NAME),
        images=card_pictures(folder),
        decoder_onnx=has_decoder_onnx(folder) if decoder_onnx is None else decoder_onnx,
    )
    return str(card)


def copy_model_files(folder: Path, dest: Path, names: list[str]) -> None:
    """Copy those of `names` that `folder` holds into `dest`, each a regular file (a link,
    FIFO or device: UnsafeFileError naming it) of at most MAX_SIDE_FILE_BYTES but the
    weights."""
    for name in names:
        if os.path.lexists(folder / name):
            limit = None if name == WEIGHTS_NAME else MAX_SIDE_FILE_BYTES
            copy_regular(folder / name, dest / name, limit)


def copy_regular_tree(folder: Path, dest: Path) -> None:
    """Copy every file under `folder` into `dest` (which exists), refusing by name anything
    but regular files and folders: links are not followed, not even to the folder's own."""
    for entry in sorted(folder.iterdir()):
        mode = entry.lstat().st_mode
        if stat.S_ISDIR(mode):
            (dest / entry.name).mkdir()
            copy_regular_tree(entry, dest / entry.name)
        else:
            copy_regular(entry, dest / entry.name)  # refuses links, FIFOs and devices


def push_model(
    folder: str | Path, repo_id: str, *, token: str | None = None, private: bool | None = None
) -> str:
    """Upload a model folder (written by train.py or save_pretrained) to `repo_id`, with a
    decoder.onnx exported from the weights that loaded (the folder's own is not read)."""
    folder = Path(folder)
    check_repo_id(repo_id)
    model = VAE.from_pretrained(folder)  # refuse to publish something that does not load
    with tempfile.TemporaryDirectory(prefix="vae-hub-push-") as tmp:
        staged = Path(tmp)
        copy_model_files(folder, staged, [name for name in COPIED_FILES if name != CARD_NAME])
        decoder = write_decoder(model, staged)
        card = model_card_for(folder, repo_id, model, decoder_onnx=decoder)
        (staged / CARD_NAME).write_text(card, encoding="utf-8")
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


# A Space runs on a CPU unless its owner pays for a GPU: PyTorch's CPU index is looked at
# too, and pip takes its build (`2.14.1+cpu` sorts above `2.14.1`), without the gigabytes of
# CUDA libraries; where the index cannot be reached, the same version comes from PyPI.
CPU_INDEX_LINES = (
    "# PyTorch's CPU build (a CPU Space needs no CUDA libraries); for a GPU Space, delete the",
    "# next line. Where this index cannot be reached, pip takes the same versions from PyPI.",
    "--extra-index-url https://download.pytorch.org/whl/cpu",
)


def pinned_requirements() -> str:
    """requirements.txt pinned to the versions installed here, which are known to work
    together (they are what the test suite ran with), preferring PyTorch's CPU build. A
    local version label (`+cu130`) is left out: each index has its own build of the
    version."""
    pins = [f"{name}=={metadata.version(name).split('+')[0]}" for name in SPACE_REQUIREMENTS]
    return "\n".join([*CPU_INDEX_LINES, *pins]) + "\n"


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


def check_space_destination(out_dir: Path, model_folder: Path | None) -> None:
    """`out_dir` may be (re)written as a Space: it is absent, empty, or a Space that
    `vae-hub space` wrote (it holds SPACE_MARKER), and it neither holds the model folder
    nor lies inside it. Else ConfigError: replacing it would delete what it holds."""
    if model_folder is not None:
        out, model = out_dir.resolve(), model_folder.resolve()
        if out == model or out.is_relative_to(model) or model.is_relative_to(out):
            where = (
                "is the model folder"
                if out == model
                else (
                    "is inside the model folder" if out.is_relative_to(model) else "holds the model"
                )
            )
            raise ConfigError(
                f"{out_dir} {where} {model_folder}; writing the Space there would replace "
                "the model: choose a new folder for the Space"
            )
    if not os.path.lexists(out_dir):
        return
    if not out_dir.is_dir():
        raise ConfigError(f"{out_dir} exists and is not a folder; choose a new folder")
    marker = out_dir / SPACE_MARKER
    ours = os.path.lexists(marker) and stat.S_ISREG(marker.lstat().st_mode)
    if not ours and any(out_dir.iterdir()):
        raise ConfigError(
            f"{out_dir} holds files and is not a Space written by vae-hub space (it has no "
            f"{SPACE_MARKER}); it is replaced only then: choose a new or empty folder"
        )


def export_space(out_dir: str | Path, model: str) -> Path:
    """Write a ready-to-run Space folder: app.py, the vae_hub package, requirements.txt and
    README.md with the Space front matter. `model` is a Hub repo id (loaded at start) or a
    local model folder (copied in as ./model, with a decoder.onnx exported from its weights
    rather than copied). An existing `out_dir` is replaced only when
    it is empty or a Space this function wrote (see `check_space_destination`)."""
    out_dir = Path(out_dir)
    local = looks_like_local_path(model) or Path(model).is_dir()
    check_space_destination(out_dir, Path(model) if local else None)
    if local:
        loaded = VAE.from_pretrained(model)  # it must load before we ship it
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
            (tmp / "model").mkdir()
            copy_model_files(Path(model), tmp / "model", COPIED_FILES)
            write_decoder(loaded, tmp / "model")
        (tmp / "requirements.txt").write_text(pinned_requirements(), encoding="utf-8")
        (tmp / "README.md").write_text(space_card(model, hub_model=not local), encoding="utf-8")
        (tmp / SPACE_MARKER).write_text(
            "Written by `vae-hub space`, which may replace this folder.\n", encoding="utf-8"
        )
    return out_dir


def push_space(
    folder: str | Path, space_id: str, *, token: str | None = None, private: bool | None = None
) -> str:
    """Upload a Space folder (written by `export_space`) to `space_id`, from a staged copy
    of its regular files (a link, FIFO or device in it is refused by name)."""
    check_repo_id(space_id)
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder")
    with tempfile.TemporaryDirectory(prefix="vae-hub-push-") as tmp:
        copy_regular_tree(folder, Path(tmp))
        (Path(tmp) / SPACE_MARKER).unlink(missing_ok=True)  # a local mark, not for the Space
        return upload_folder(
            tmp,
            space_id,
            token=token,
            private=private,
            repo_type="space",
            commit_message="Upload vae-hub demo Space",
            retry_command=push_command(folder, space_id, repo_type="space", private=private),
        )
