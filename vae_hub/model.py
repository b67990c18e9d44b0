"""`VAE`: the model users load, train, share and demo.

The constructor arguments are the whole config (they become config.json); the weights and the
fitted class Gaussians and latent map travel together in model.safetensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin
from torch import nn

from . import architectures, model_files
from .architectures import ARCHITECTURES, IMAGE_SHAPE
from .errors import InvalidModelError
from .losses import kl_divergence
from .model_files import TensorSpec
from .posterior import IAF, LOG_2PI, standard_normal_log_prob

NUM_CLASSES = 10
REPO_URL = "https://github.com/vae-hub/vae-hub"
DEFAULT_HIDDEN_DIM = {"conv": 256, "genzoo": 256, "mlp": 400}
FLOW_HIDDEN_DIM = 320  # MADE width of each flow step (Kingma et al. 2016 used 320 too)


@dataclass(frozen=True)
class ConfigField:
    """One config.json field: allowed Python types and, for numbers, inclusive bounds.

    The upper bounds are far above any useful MNIST model and far below what would exhaust
    memory: a config.json from a stranger is checked against them before anything is built.
    """

    types: tuple[type, ...]
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] | None = None


# config.json schema (bool is kept apart from int on purpose).
CONFIG_SCHEMA: dict[str, ConfigField] = {
    "latent_dim": ConfigField((int,), 1, 512),
    "arch": ConfigField((str,), choices=ARCHITECTURES),
    "channels": ConfigField((int,), 1, 256),
    "hidden_dim": ConfigField((int, type(None)), 1, 4096),
    "latent_map_points": ConfigField((int,), 0, 60_000),
    "binarized": ConfigField((bool,)),
    "flow_steps": ConfigField((int,), 0, 16),
}


class LatentSample(NamedTuple):
    """Draws from q(z|x): z (S, B, D), log q(z|x) (S, B) and the KL term (S, B) the ELBO
    uses (closed form for a Gaussian posterior, log q(z|x) - log p(z) with a flow)."""

    z: torch.Tensor
    log_q: torch.Tensor
    kl: torch.Tensor


class VAE(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="vae-hub",
    license="mit",
    repo_url=REPO_URL,
    pipeline_tag="unconditional-image-generation",
    tags=["vae", "variational-autoencoder", "mnist", "image-generation", "vae-hub"],
):
    """Variational autoencoder for 28x28 grey-level digits (Kingma & Welling, 2013).

    Parameters:
        latent_dim: Size of the latent code z.
        arch: "conv" (ours: conv encoder/decoder with residual blocks), "genzoo" (the
            original GenZoo conv VAE, layer for layer) or "mlp" (the 784-400-20 VAE of the
            PyTorch examples).
        channels: Width of the "conv" arch's convolutions.
        hidden_dim: Width of the fully connected layer(s); None picks the arch's own
            (conv 256, mlp 400; genzoo is fixed at 512/256 and ignores it).
        latent_map_points: How many test-set latent means the stored 2-D latent map holds.
        binarized: True when trained on dynamically binarized MNIST (evaluation then
            binarizes the test images too).
        flow_steps: Inverse autoregressive flow steps on top of the encoder's diagonal
            Gaussian (`vae_hub.posterior`; "conv" arch only). 0 keeps q(z|x) Gaussian.

    Besides the networks, the state holds one Gaussian per digit in latent space
    (`class_means`, `class_scale_tril`, `class_counts`, fitted after training so a digit can
    be generated without the dataset) and a latent map (`latent_map_mu`, `latent_map_xy`,
    `latent_map_labels`), all saved in model.safetensors.
    """

    def __init__(
        self,
        latent_dim: int = 20,
        arch: str = "conv",
        channels: int = 32,
        hidden_dim: int | None = None,
        latent_map_points: int = 2000,
        binarized: bool = False,
        flow_steps: int = 0,
    ):
        super().__init__()
        validate_config(
            {
                "latent_dim": latent_dim,
                "arch": arch,
                "channels": channels,
                "hidden_dim": hidden_dim,
                "latent_map_points": latent_map_points,
                "binarized": binarized,
                "flow_steps": flow_steps,
            }
        )
        hidden_dim = hidden_dim if hidden_dim is not None else DEFAULT_HIDDEN_DIM[arch]
        # Record the resolved width so config.json states what was built.
        if isinstance(getattr(self, "_hub_mixin_config", None), dict):
            self._hub_mixin_config["hidden_dim"] = hidden_dim
        self.latent_dim = latent_dim
        self.arch = arch
        self.binarized = binarized
        self.encoder, self.decoder = architectures.build(arch, latent_dim, channels, hidden_dim)
        self.flow = IAF(latent_dim, hidden_dim, flow_steps, FLOW_HIDDEN_DIM) if flow_steps else None

        eye = torch.eye(latent_dim).expand(NUM_CLASSES, latent_dim, latent_dim)
        self.register_buffer("class_means", torch.zeros(NUM_CLASSES, latent_dim))
        self.register_buffer("class_scale_tril", eye.clone())
        self.register_buffer("class_counts", torch.zeros(NUM_CLASSES, dtype=torch.int64))
        self.register_buffer("latent_map_mu", torch.zeros(latent_map_points, latent_dim))
        self.register_buffer("latent_map_xy", torch.zeros(latent_map_points, 2))
        self.register_buffer(
            "latent_map_labels", torch.full((latent_map_points,), -1, dtype=torch.int64)
        )

    # --- the model --------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of the encoder's diagonal Gaussian, each (N, latent_dim), for
        images (N, 1, 28, 28). It is q(z|x) itself unless the model has a flow (`embed`)."""
        return self._encode(x)[:2]

    def _encode(self, x: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        x = self._as_images(x)
        if self.flow is None:
            return (*self.encoder(x), None)
        return self.encoder.encode_with_context(x)

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I) drawn from `generator` (not the global RNG)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def sample_posterior(
        self, x: torch.Tensor, samples: int = 1, generator: torch.Generator | None = None
    ) -> LatentSample:
        """`samples` draws z ~ q(z|x) per image (N, 1, 28, 28), with their log-density and
        KL term: what the ELBO (one draw) and the IWAE bound (k draws) are made of."""
        mu, logvar, h = self._encode(x)  # (B, D), (B, D), (B, C) or None
        shape = (samples, *mu.shape)
        eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return self._posterior_at(mu, logvar, h, eps)

    def _posterior_at(
        self, mu: torch.Tensor, logvar: torch.Tensor, h: torch.Tensor | None, eps: torch.Tensor
    ) -> LatentSample:
        """z, log q(z|x) and the KL term at standard-normal noise eps (S, B, D)."""
        z = mu + torch.exp(0.5 * logvar) * eps  # (S, B, D)
        log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)  # (S, B)
        if self.flow is None:
            return LatentSample(z, log_q, kl_divergence(mu, logvar).expand(eps.shape[0], -1))
        z, log_det = self.flow(z, h)  # (S, B, D), (S, B)
        log_q = log_q - log_det
        return LatentSample(z, log_q, log_q - standard_normal_log_prob(z))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The centre of q(z|x), (N, latent_dim), for images (N, 1, 28, 28): the Gaussian's
        mean, pushed through the flow (eps = 0) when there is one. Reconstructions, the
        latent map, the class Gaussians and the probe all use this point."""
        mu, _, h = self._encode(x)
        return mu if self.flow is None else self.flow(mu, h)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (N, 1, 28, 28) for latents (N, latent_dim)."""
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != self.latent_dim:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"expected latents shaped (N, {self.latent_dim}), got {got}")
        if not z.is_floating_point():
            raise ValueError(f"expected float latents, got dtype {z.dtype}")
        param = next(self.parameters())
        return self.decoder(z.to(device=param.device, dtype=param.dtype))

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (N, 1, 28, 28), kl (N,)): the two parts of the negative ELBO
        (`losses.elbo_loss`). Training draws one z ~ q(z|x) from `generator`; eval mode is
        deterministic and decodes `embed(x)` (the KL term is then taken at that point)."""
        mu, logvar, h = self._encode(x)
        if self.training:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        else:
            eps = torch.zeros_like(mu)
        z, _, kl = self._posterior_at(mu, logvar, h, eps[None])  # (1, B, D), _, (1, B)
        return self.decoder(z[0]), kl[0]

    def _as_images(self, x: Any) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise ValueError(
                f"expected a float tensor of images shaped (N, 1, 28, 28), got {type(x).__name__}"
            )
        if x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"expected images shaped (N, 1, 28, 28), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(
                f"expected float images with values in [0, 1], got dtype {x.dtype} "
                "(divide uint8 images by 255)"
            )
        if x.numel() and (bool(x.min() < 0) or bool(x.max() > 1)):
            raise ValueError(
                f"expected image values in [0, 1], got [{x.min().item():.3g}, {x.max().item():.3g}]"
            )
        param = next(self.parameters())
        return x.to(device=param.device, dtype=param.dtype)

    # --- what is stored beside the networks -------------------------------------------------

    @property
    def has_class_gaussians(self) -> bool:
        return bool((self.class_counts > 0).all())

    @property
    def has_latent_map(self) -> bool:
        return self.latent_map_labels.numel() > 0 and bool((self.latent_map_labels >= 0).all())

    def set_class_gaussians(
        self, means: torch.Tensor, scale_tril: torch.Tensor, counts: torch.Tensor
    ) -> None:
        """Store per-digit Gaussians: means (10, D), Cholesky factors (10, D, D), counts (10,)."""
        self.class_means.copy_(means)
        self.class_scale_tril.copy_(scale_tril)
        self.class_counts.copy_(counts)

    def set_latent_map(self, mu: torch.Tensor, xy: torch.Tensor, labels: torch.Tensor) -> None:
        """Store a 2-D map: latent means (P, D), their 2-D positions (P, 2), digits (P,)."""
        self.latent_map_mu.copy_(mu)
        self.latent_map_xy.copy_(xy)
        self.latent_map_labels.copy_(labels)

    # --- Hub integration --------------------------------------------------------------------

    @property
    def config(self) -> dict:
        """The constructor arguments, as written to config.json."""
        return dict(self._hub_mixin_config)

    def _save_pretrained(self, save_directory: Path) -> None:
        from huggingface_hub.constants import SAFETENSORS_SINGLE_FILE

        from .files import usual_file_mode

        super()._save_pretrained(save_directory)
        usual_file_mode(Path(save_directory) / SAFETENSORS_SINGLE_FILE)  # not safetensors' 0600

    def generate_model_card(self, *args, **kwargs) -> ModelCard:
        from .card import render_model_card

        return render_model_card(self, **kwargs)

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
    ) -> VAE:
        """Load a model from a save_pretrained folder or a Hub repo id, in eval mode.

        Always strict: config.json is parsed by a strict reader and checked against the
        schema's bounds; the model is then built on the `meta` device and every tensor it
        expects is compared (name, shape, dtype) with the safetensors header before any
        weight is allocated; NaN or infinite values and unusable class Gaussians are
        refused too. Every problem is one InvalidModelError naming the file, and only
        safetensors are read (never a pickle).
        """
        if not strict:
            raise ValueError("vae_hub.VAE loads strictly; strict=False is not supported")
        files = model_files.locate(
            str(pretrained_model_name_or_path),
            force_download=force_download,
            token=token,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            revision=revision,
        )
        config = model_files.read_config(files.config)
        try:
            validate_config(config)
        except ValueError as e:
            raise InvalidModelError(f"{files.config} is not a vae-hub VAE config: {e}") from e
        with torch.device("meta"):  # shapes and dtypes only: nothing is allocated
            expected = {k: TensorSpec.of(v) for k, v in cls(**config).state_dict().items()}
        model_files.check_tensors(files.weights, expected)
        state = model_files.read_tensors(files.weights)
        problems = stored_state_problems(state)
        if problems:
            raise InvalidModelError(f"{files.weights}: " + "; ".join(problems))
        model = cls(**config)
        model.load_state_dict(state, strict=True)
        return model.to(map_location).eval()


def validate_config(config: dict) -> dict:
    """Check a config dict against CONFIG_SCHEMA; raise ValueError naming the bad field."""
    unknown = sorted(set(config) - set(CONFIG_SCHEMA))
    if unknown:
        raise ValueError(
            f"unknown config field(s) {', '.join(unknown)}; "
            f"expected only {', '.join(CONFIG_SCHEMA)}"
        )
    for key, value in config.items():
        field = CONFIG_SCHEMA[key]
        if not isinstance(value, field.types) or (
            isinstance(value, bool) and bool not in field.types
        ):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in field.types)
            raise ValueError(f"config field {key!r} must be {names}, got {_short(value)}")
        if field.choices and value not in field.choices:
            raise ValueError(
                f"config field {key!r} must be one of {', '.join(field.choices)}, got {value!r}"
            )
        if value is not None and field.low is not None and not field.low <= value <= field.high:
            raise ValueError(
                f"config field {key!r} must be in {field.low}..{field.high}, got {_short(value)}"
            )
    if config.get("flow_steps", 0) and config.get("arch", "conv") != "conv":
        raise ValueError(
            f"config field 'flow_steps' needs arch 'conv' (its encoder gives the flow its "
            f"context), got arch {config['arch']!r}"
        )
    return config


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def stored_state_problems(state: dict[str, torch.Tensor]) -> list[str]:
    """What is wrong with the non-network tensors of a state dict (already checked for
    names, shapes, dtypes and finite values): the class Gaussians must be usable for
    sampling (scale factors lower-triangular with a positive diagonal) and the labels and
    counts must be digits and counts."""
    problems = []
    tril = state.get("class_scale_tril")
    if tril is not None and (
        bool(torch.triu(tril, diagonal=1).ne(0).any())
        or bool((torch.diagonal(tril, dim1=-2, dim2=-1) <= 0).any())
    ):
        problems.append("class_scale_tril is not a Cholesky factor (lower-triangular, diagonal>0)")
    counts = state.get("class_counts")
    if counts is not None and bool((counts < 0).any()):
        problems.append("class_counts holds negative counts")
    labels = state.get("latent_map_labels")
    if labels is not None and bool(((labels < -1) | (labels >= NUM_CLASSES)).any()):
        problems.append(f"latent_map_labels holds values outside -1..{NUM_CLASSES - 1}")
    return problems
