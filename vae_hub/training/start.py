"""A run's starting point, fresh or resumed: the `Trainee` (the model or the --init-from
weights, its weight average, shift biases, optimiser, position and generator), and the
checks that a saved model or checkpoint was trained with the options given now."""

from __future__ import annotations

import copy
import sys
from typing import Any

import torch

from ..errors import ConfigError, InvalidModelError
from ..files import mnist
from ..model.config import MODEL_FIELDS
from ..model.priors import NUM_CLASSES
from ..model.vae import VAE
from . import checkpoints
from .augmentation import ShiftAugmentation, shift_of
from .options import RESUME_FIXED, TrainConfig, saved_run_options
from .trainee import Trainee


def start_run(config: TrainConfig, train: mnist.MnistSplit, map_points: int) -> Trainee:
    """A new run's trainee, on the device of `train`."""
    model, augmentation, optimizer = start_model(config, train, map_points)
    generator = torch.Generator(device=train.images.device).manual_seed(config.seed)
    ema = copy.deepcopy(model) if config.ema_decay else None
    return Trainee(model, optimizer, checkpoints.TrainState(), generator, augmentation, ema)


def resume_run(config: TrainConfig, device: torch.device, position: dict[str, Any]) -> Trainee:
    """The trainee of the run's newest checkpoint, once it is known to be the same model,
    data and position-defining options as now (else ConfigError)."""
    saved = checkpoints.load_checkpoint(config.run_dir, device)
    where = f"--resume: {config.run_dir}"
    check_model_options(
        config, saved.model, where, "pass the same options or use another --exp-name"
    )
    if not saved.verified:
        print(
            f"warning: {saved.folder} has no checksums (written by an earlier version of "
            "vae-hub), so it is resumed without checking it for damage",
            file=sys.stderr,
        )
    recorded = saved.position
    if recorded is None:  # an earlier version's checkpoint: the run's options file
        recorded = saved_run_options(config.to_dict())
    check_resume_position(config, recorded, position)
    model, ema = saved.model, None
    if saved.raw_weights is not None:  # the folder holds the average; resume the weights
        ema, model = model, copy.deepcopy(model)
        model.load_state_dict(saved.raw_weights)
    if config.ema_decay and ema is None:
        ema = copy.deepcopy(model)
    augmentation = run_augmentation(model, config, saved.augmentation, device)
    optimizer = make_optimizer(model, config, augmentation)
    try:
        optimizer.load_state_dict(saved.optimizer_state)
    except (KeyError, ValueError, RuntimeError) as e:  # possible only without checksums
        state_file = saved.folder / checkpoints.STATE_FILE
        raise InvalidModelError(f"{state_file} is damaged: its optimizer state ({e})") from e
    for group in optimizer.param_groups:  # the saved groups carry the old options
        group.update(weight_decay=config.weight_decay, decoupled_weight_decay=True)
    generator = torch.Generator(device=device)
    generator.set_state(saved.rng["generator"])
    torch.set_rng_state(saved.rng["torch"])
    state = saved.state
    state.history = [h for h in state.history if not h.get("partial")]
    print(f"Resuming from {saved.folder} (epoch {state.epoch}, step {state.step}).")
    return Trainee(
        model, optimizer, state, generator, augmentation, ema if config.ema_decay else None
    )


def make_optimizer(
    model: VAE, config: TrainConfig, augmentation: ShiftAugmentation | None = None
) -> torch.optim.Optimizer:
    """Adam; with --weight-decay, AdamW's decoupled decay (Loshchilov & Hutter 2019). The
    augmentation's biases, when there are any, are trained with the model."""
    params = [*model.parameters(), *(augmentation.parameters() if augmentation else ())]
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def start_model(
    config: TrainConfig, train: mnist.MnistSplit, map_points: int
) -> tuple[VAE, ShiftAugmentation | None, torch.optim.Optimizer]:
    """A new run's model on the device of `train` (the --init-from weights, when given), its
    shift biases (None without --augment-shift) and its optimiser. A class mixture is
    weighted by the digits' frequencies in `train`."""
    device = train.images.device
    model = VAE(**config.model_config(latent_map_points=map_points)).to(device)
    counts = torch.bincount(train.labels, minlength=NUM_CLASSES).clamp_min(1)  # (10,)
    model.prior.set_class_frequencies(counts)  # a digit missing from a subset still has one
    if config.init_from:
        load_initial_weights(model, config)
    augmentation = run_augmentation(model, config, None, device)
    return model, augmentation, make_optimizer(model, config, augmentation)


def load_initial_weights(model: VAE, config: TrainConfig) -> None:
    """--init-from: copy the network weights of a saved model into the fresh `model`.

    What was fitted to the old weights after training (the standard prior's per-digit
    Gaussians, the latent map) is left out: it is fitted again when this run finishes."""
    source = VAE.from_pretrained(config.init_from)
    check_model_options(config, source, f"--init-from {config.init_from}: that model")
    derived = ("prior.class_", "latent_map_")
    weights = {k: v for k, v in source.state_dict().items() if not k.startswith(derived)}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.startswith(derived)]
    if missing or unexpected:  # the options matched, so this is a bug, not a user error
        raise RuntimeError(f"--init-from: missing {missing}, unexpected {unexpected}")
    print(f"Starting from the weights of {config.init_from}.")


def run_augmentation(
    model: VAE, config: TrainConfig, saved: dict[str, torch.Tensor] | None, device: torch.device
) -> ShiftAugmentation | None:
    """The run's shift augmentation (None when off), with the checkpoint's biases when
    resuming; a run cannot continue with another --augment-shift than it was trained with."""
    augmentation = None
    if config.augment_shift:
        augmentation = ShiftAugmentation(model, config.augment_shift, config.augment_share)
    if config.resume:
        expected = augmentation.state_dict() if augmentation else {}
        if _shapes(saved or {}) != _shapes(expected):
            trained = shift_of(saved)
            raise ConfigError(
                f"--resume: the run was trained with --augment-shift {trained}, not "
                f"{config.augment_shift}; resume it with --augment-shift {trained}"
            )
        if augmentation is not None:
            augmentation.load_state_dict(saved)
    return augmentation.to(device) if augmentation else None


def _shapes(tensors: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in tensors.items()}


# The flags that shape the network, as the advice for a model that does not match them
# (the latent map is refitted at the end of every run, so its size need not match).
SAME_MODEL_OPTIONS = "pass the same " + "/".join(
    TrainConfig.label(name) for name in MODEL_FIELDS if name != "latent_map_points"
)


def check_model_options(
    config: TrainConfig,
    model: VAE,
    what: str,
    advice: str = SAME_MODEL_OPTIONS,
) -> None:
    """The options that shape the network must match those `model` was built with."""
    wanted = config.model_config()
    del wanted["latent_map_points"]  # the map is refitted at the end of every run
    if config.hidden_dim is None:
        del wanted["hidden_dim"]  # the arch's default: whatever the saved model resolved
    saved = model.config
    different = {k: (saved.get(k), v) for k, v in wanted.items() if saved.get(k) != v}
    if different:
        detail = ", ".join(f"{k}: saved {a!r} vs now {b!r}" for k, (a, b) in different.items())
        raise ConfigError(f"{what} was trained with different model options ({detail}); {advice}")


def resume_position(config: TrainConfig, train: mnist.MnistSplit) -> dict[str, Any]:
    """What a checkpoint of this run records about its position, for `check_resume_position`:
    the RESUME_FIXED options and the training data's fingerprint."""
    return {**{k: getattr(config, k) for k in RESUME_FIXED}, "data": mnist.fingerprint(train)}


def check_resume_position(config: TrainConfig, saved: dict[str, Any], now: dict[str, Any]) -> None:
    """A resumed run keeps the options that say what its saved position means, and its
    training data (`saved` and `now` from `resume_position`; `saved` may lack the data and
    any option: a checkpoint of an earlier version records none, only train_config.json)."""
    where = f"--resume: {config.run_dir}"
    keys = [k for k in RESUME_FIXED if k != "epochs" or config.lr_schedule == "cosine"]
    different = {k: (saved[k], now[k]) for k in keys if k in saved and saved[k] != now[k]}
    if different:
        detail = ", ".join(f"{k}: saved {a!r} vs now {b!r}" for k, (a, b) in different.items())
        flags = "/".join("--" + k.replace("_", "-") for k in different)
        raise ConfigError(
            f"{where} was trained with other options that fix where it stopped ({detail}); "
            f"resume it with the same {flags}, or start a new run with another --exp-name"
        )
    before, after = saved.get("data"), now["data"]
    if before is not None and before != after:
        raise ConfigError(
            f"{where} was trained on other data than --data-dir {config.data_dir} holds "
            f"({_images(before)} training images then, {after['images']} now, or the "
            "same number with other contents; a --dry-run trains on a subset); resume it "
            "with the same data and --dry-run setting"
        )


def _images(fingerprint: Any) -> Any:
    return fingerprint.get("images", "?") if isinstance(fingerprint, dict) else "?"
