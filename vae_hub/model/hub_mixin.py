"""How a `VAE` is saved, loaded and described on the Hub: huggingface_hub's documented hooks
of `PyTorchModelHubMixin` (`_save_pretrained`, `_from_pretrained`, `generate_model_card`).

Loading is strict and reads only JSON and safetensors (`model_files`): a stranger's folder
can describe a wrong model, never run code or cost memory before it is checked.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin
from safetensors.torch import save_model
from torch import nn

from ..errors import InvalidModelError
from ..files import model_files
from ..files.atomic import remove, usual_file_mode
from ..files.model_files import CONFIG_NAME, WEIGHTS_NAME, TensorSpec
from . import flow, networks
from .config import ModelConfig
from .onnx import DECODER_ONNX, write_decoder
from .priors import NUM_CLASSES

CARD_TEMPLATE = resources.files("vae_hub").joinpath("templates", "MODEL_CARD.md").read_text()
PROJECT_URL_ENV = "VAE_HUB_PROJECT_URL"


def project_url() -> str | None:
    """Where the project is published ($VAE_HUB_PROJECT_URL), for the card's and the demo's
    links; unset, they link nowhere rather than to a repository that does not exist."""
    return os.environ.get(PROJECT_URL_ENV) or None


class VAEHubMixin(PyTorchModelHubMixin):
    """The Hub side of `VAE`. It relies on the model's `config`, parameters, `prior` and
    stored latent map (`has_latent_map`, `latent_map_labels`)."""

    def save_pretrained(
        self,
        save_directory: str | Path,
        *,
        decoder_onnx: bool = True,
        model_card_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> str | None:
        """The mixin's save_pretrained (config.json, model.safetensors, README.md, and a push
        if asked), with the decoder exported beside them as decoder.onnx for browsers
        (`onnx.py`) and listed on the card. `decoder_onnx=False` leaves it out: training
        checkpoints, written every few epochs to be resumed rather than served, do not pay
        for an export. A decoder.onnx already in the folder is replaced or, when none is
        written, removed, so it never disagrees with the weights beside it."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        remove(folder / DECODER_ONNX)  # a link is removed itself, never followed
        written = decoder_onnx and write_decoder(self, folder)
        card = {**(model_card_kwargs or {}), "decoder_onnx": written}
        return super().save_pretrained(folder, model_card_kwargs=card, **kwargs)

    def _save_pretrained(self, save_directory: Path) -> None:
        """config.json (with hidden_dim resolved, so it states what was built) and
        model.safetensors, both readable by others (safetensors writes 0600)."""
        folder = Path(save_directory)
        (folder / CONFIG_NAME).write_text(json.dumps(self.config, sort_keys=True, indent=2))
        save_model(self, str(folder / WEIGHTS_NAME))
        usual_file_mode(folder / WEIGHTS_NAME)

    def card_facts(self) -> dict[str, Any]:
        """What the model card says about the model itself (the template's variables)."""
        config = self.config
        num_parameters = sum(p.numel() for p in self.parameters())
        stored = [
            self.prior.stored(),
            f"a {self.latent_map_labels.shape[0]}-point latent map"
            if self.has_latent_map
            else None,
        ]
        return {
            "title": f"vae-hub MNIST VAE ({config['arch']}, latent {config['latent_dim']})",
            "project_url": project_url(),
            "model_id": "path/to/this/folder",
            "config": config,
            "arch_description": networks.describe(config),
            "posterior": flow.describe(config["flow_steps"]),
            "prior_description": self.prior.describe(),
            "prior_phrases": self.prior.phrases(flow=bool(config["flow_steps"])),
            "num_parameters": num_parameters,
            "size_mb": num_parameters * 4 / 1e6,
            "likelihood": "Bernoulli on binarized pixels"
            if config["binarized"]
            else "Bernoulli on grey levels",
            "stored": ", ".join(s for s in stored if s)
            or "nothing yet (fitted at the end of training)",
            "images": {},
            "decoder_onnx": False,  # save_pretrained and the card commands say when it is there
        }

    def generate_model_card(self, *args, eval_results=None, **kwargs) -> ModelCard:
        """The MODEL_CARD.md template filled with `card_facts()` and what the caller adds
        (training record, metrics, pictures: see `vae_hub.hub.card`); `eval_results` become
        the card's model-index metadata."""
        values = {**self.card_facts(), **kwargs}
        card = super().generate_model_card(*args, **values)
        card = ModelCard(re.sub(r"\n{3,}", "\n\n", str(card)))  # the template's blank lines
        card.data.datasets = ["mnist"]
        card.data.model_name = values["title"]
        if eval_results:
            card.data.eval_results = eval_results
        return card

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        force_download: bool = False,
        token: str | bool | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        revision: str | None = None,
        map_location: str | torch.device = "cpu",
        strict: bool = True,
    ) -> VAEHubMixin:
        """Load a model from a save_pretrained folder or a Hub repo id, in eval mode.

        The mixin's own from_pretrained parses config.json with a lenient json.load (it
        takes duplicate keys and NaN, and unbounded nesting raises RecursionError), so this
        one hands the whole job to `_from_pretrained`, which reads both files strictly.
        """
        return cls._from_pretrained(
            model_id=str(pretrained_model_name_or_path),
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
            map_location=map_location,
            strict=strict,
        )

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str | torch.device = "cpu",
        strict: bool = True,
        **_: Any,
    ) -> VAEHubMixin:
        """Always strict: config.json is read by a strict parser and checked against the
        schema's bounds; the model is then built on the `meta` device and every tensor it
        expects is compared (name, shape, dtype) with the safetensors header before any
        weight is allocated; NaN or infinite values and unusable class Gaussians are refused
        too. Every problem is one InvalidModelError naming the file, and only safetensors are
        read (never a pickle)."""
        if not strict:
            raise ValueError("vae_hub.VAE loads strictly; strict=False is not supported")
        files = model_files.locate(
            model_id,
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
        )
        linked = files.in_hub_cache  # the HF cache's snapshots link into its blobs
        config = model_files.read_config(files.config, follow_link=linked)
        try:
            ModelConfig.from_dict(config)
        except ValueError as e:
            raise InvalidModelError(f"{files.config} is not a vae-hub VAE config: {e}") from e
        with torch.device("meta"):  # shapes and dtypes only: nothing is allocated
            expected = {k: TensorSpec.of(v) for k, v in cls(**config).state_dict().items()}
        read = {"follow_link": linked, "renamed": RENAMED_TENSORS}
        model_files.check_tensors(files.weights, expected, **read)
        state = model_files.read_tensors(files.weights, **read)
        model = cls(**config)
        problems = stored_state_problems(model, state)
        if problems:
            raise InvalidModelError(f"{files.weights}: " + "; ".join(problems))
        model.load_state_dict(state, strict=True)
        return model.to(map_location).eval()


# Tensors that an earlier version saved under other names: the standard prior's per-digit
# Gaussians sat on the model itself before the prior became an object that owns them.
RENAMED_TENSORS = {
    "class_means": "prior.class_means",
    "class_scale_tril": "prior.class_scale_tril",
    "class_counts": "prior.class_counts",
}


def stored_state_problems(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """What is wrong with the non-network tensors of a state dict (already checked for
    names, shapes, dtypes and finite values): what the prior keeps must be usable for
    sampling (its own check), and the latent map's labels must be digits."""
    problems = model.prior.state_problems(state, "prior.")
    labels = state.get("latent_map_labels")
    if labels is not None and bool(((labels < -1) | (labels >= NUM_CLASSES)).any()):
        problems.append(f"latent_map_labels holds values outside -1..{NUM_CLASSES - 1}")
    return problems
