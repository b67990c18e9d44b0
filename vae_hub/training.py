"""The training loop: `run(config)` calls `train_one_epoch` and `negative_elbo` per epoch,
checkpoints atomically, logs to TensorBoard, and finishes with the class Gaussians, the latent
map and the final save_pretrained folder."""

from __future__ import annotations

import copy
import math
import re
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from tqdm.auto import tqdm

from . import checkpoints, data, plots
from .config import PER_INVOCATION, TrainConfig
from .errors import ConfigError, DataNotFoundError, WriteError
from .evaluation import METRICS, evaluate_model, format_table, negative_elbo, prepare_images
from .files import atomic_write_json, remove_stale_temporaries
from .latent import fit_latent_state
from .losses import elbo_loss
from .model import VAE

DRY_RUN_STEPS = 5
DRY_RUN_TRAIN = 2000
DRY_RUN_EVAL = 500
DRY_RUN_TSNE = 200
IMAGE_GRID_PER_ROW = 8
IMAGE_GRID_ROWS = 4


def resolve_device(name: str) -> torch.device:
    """auto -> cuda if available, else mps, else cpu; an explicit device must exist here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"--device {name!r} is not a device (auto|cpu|cuda|cuda:N|mps)") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA device here; use --device auto or cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {name}: MPS is not available here; use --device auto or cpu")
    return device


class StopFlag:
    """First Ctrl-C asks the loop to stop after the current step (and save); a second one
    interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopFlag:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("Stopping after this step and saving a checkpoint (Ctrl-C again to abort).")

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


@dataclass
class TrainResult:
    run_dir: Path
    final_dir: Path | None  # None when stopped by Ctrl-C before the end
    state: checkpoints.TrainState
    interrupted: bool = False
    test: dict[str, float] = field(default_factory=dict)


@dataclass
class Limits:
    """When to stop early; checked after every step."""

    max_steps: int | None
    max_seconds: float | None  # of training; evaluation and saving do not count
    stop: StopFlag

    def reached(self, step: int, trained_seconds: float) -> bool:
        return (
            self.stop.requested
            or (self.max_steps is not None and step >= self.max_steps)
            or (self.max_seconds is not None and trained_seconds >= self.max_seconds)
        )


def kl_weight(step: int, steps_per_epoch: int, warmup_epochs: float) -> float:
    """Linear KL warm-up (beta annealing, Bowman et al. 2016): 0 -> 1 over `warmup_epochs`."""
    if warmup_epochs <= 0:
        return 1.0
    return min(1.0, step / (warmup_epochs * steps_per_epoch))


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    return config.lr


def make_optimizer(model: VAE, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam; with --weight-decay, AdamW's decoupled decay (Loshchilov & Hutter 2019)."""
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


@torch.no_grad()
def update_ema(ema: VAE, model: VAE, decay: float, step: int) -> None:
    """ema <- d * ema + (1 - d) * model, with d warmed up as min(decay, (1 + t) / (10 + t))
    so early averages are not dominated by the random initialisation."""
    d = min(decay, (1 + step) / (10 + step))
    for average, weight in zip(ema.parameters(), model.parameters(), strict=True):
        average.lerp_(weight, 1 - d)


def sync_buffers(ema: VAE, model: VAE) -> None:
    """Buffers (BatchNorm statistics) are not averaged: the average uses the model's."""
    with torch.no_grad():
        for average, buffer in zip(ema.buffers(), model.buffers(), strict=True):
            average.copy_(buffer)


def train_one_epoch(
    model: VAE,
    step_fn: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train: data.MnistSplit,
    config: TrainConfig,
    state: checkpoints.TrainState,
    generator: torch.Generator,
    limits: Limits,
    ema: VAE | None = None,
) -> bool:
    """Run (the rest of) epoch `state.epoch`, updating `state` (and the weight average
    `ema`) in place. Returns True when the epoch finished, False when a limit stopped it
    part-way (state.batch says where)."""
    model.train()
    device = train.images.device
    per_epoch = data.num_batches(len(train), config.batch_size)
    total_steps = per_epoch * config.epochs
    order = data.epoch_permutation(len(train), config.seed, state.epoch, device)
    sums = state.partial or {"reconstruction": 0.0, "kl": 0.0, "images": 0.0}
    bar = tqdm(
        total=per_epoch,
        initial=state.batch,
        desc=f"epoch {state.epoch + 1}/{config.epochs}",
        unit="batch",
        disable=not config.progress,
        dynamic_ncols=True,
        leave=False,
    )
    started = time.monotonic()
    finished = True
    try:
        for idx in data.batch_indices(order, config.batch_size, start=state.batch):
            x = prepare_images(train.images[idx], config.binarize, generator)  # (B, 1, 28, 28)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=x.is_cuda):
                logits, kl = step_fn(x, generator)  # bf16 matmuls on CUDA only
            reconstruction, kl = elbo_loss(logits.float(), x, kl.float())
            beta = kl_weight(state.step, per_epoch, config.kl_warmup_epochs)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, state.step, total_steps)
            optimizer.zero_grad(set_to_none=True)
            (reconstruction + beta * kl).backward()
            optimizer.step()
            if ema is not None:
                update_ema(ema, model, config.ema_decay, state.step)
            state.step += 1
            state.batch += 1
            n = x.shape[0]
            sums["reconstruction"] += reconstruction.item() * n
            sums["kl"] += kl.item() * n
            sums["images"] += n
            bar.update(1)
            if state.batch % 10 == 0 or state.batch == per_epoch:
                avg = (sums["reconstruction"] + sums["kl"]) / sums["images"]
                bar.set_postfix(loss=f"{avg:.2f}", kl=f"{sums['kl'] / sums['images']:.2f}")
            trained = state.elapsed + time.monotonic() - started
            if state.batch < per_epoch and limits.reached(state.step, trained):
                finished = False
                break
    finally:
        bar.close()
        state.elapsed += time.monotonic() - started
        state.partial = sums
    return finished


def run(config: TrainConfig) -> TrainResult:
    """Train as `config` says, resuming if asked; see `train.py --help`. A file that cannot
    be written (full disk, read-only folder) ends the run with a WriteError."""
    with _explained_write_failures(config):
        return _run(config)


@contextmanager
def _explained_write_failures(config: TrainConfig) -> Iterator[None]:
    """Turn a failed write inside the run folder into one WriteError saying what failed, the
    last good checkpoint and how to go on. Other errors pass through unchanged."""
    run_dir = config.run_dir
    try:
        yield
    except SafetensorError as e:  # safetensors reports its own I/O errors in its message
        cause = re.sub(r"^.*I/O error: ", "", str(e))
        where = run_dir / checkpoints.CHECKPOINTS_DIR
        raise WriteError(f"cannot write a checkpoint in {where}: {cause}. {_way_on(config)}") from e
    except OSError as e:
        inside = e.filename is not None and Path(e.filename).resolve().is_relative_to(
            run_dir.resolve()
        )
        if isinstance(e, DataNotFoundError) or not inside:
            raise
        raise WriteError(f"cannot write {e.filename}: {e.strerror}. {_way_on(config)}") from e


def _way_on(config: TrainConfig) -> str:
    latest = checkpoints.latest_checkpoint(config.run_dir)
    if latest is None:
        return (
            "No checkpoint was written yet; once the disk has room and the folder is "
            "writable, run the same command again."
        )
    return (
        f"The last good checkpoint is {latest}; once the disk has room and the folder is "
        "writable, continue with the same command and --resume."
    )


def _run(config: TrainConfig) -> TrainResult:
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    run_dir = config.run_dir
    _prepare_run_dir(config)

    torch.manual_seed(config.seed)  # initialisation and dropout; batches use their own RNGs
    train = data.load_mnist(config.data_dir, train=True, download=config.download).to(device)
    test = data.load_mnist(config.data_dir, train=False, download=config.download).to(device)
    if config.dry_run:  # seconds-long: train a few steps, score and map small subsets
        train, test = train.subset(DRY_RUN_TRAIN), test.subset(DRY_RUN_EVAL)
    map_points = min(config.t_sne_points, DRY_RUN_TSNE if config.dry_run else len(test))

    generator = torch.Generator(device=device).manual_seed(config.seed)
    ema = None
    if config.resume:
        saved = checkpoints.load_checkpoint(run_dir, device)
        model, state = saved.model, saved.state
        _check_model_options(
            config, model, f"--resume: {run_dir}", "pass the same options or use another --exp-name"
        )
        if saved.raw_weights is not None:  # the folder holds the average; resume the weights
            ema, model = model, copy.deepcopy(model)
            model.load_state_dict(saved.raw_weights)
        optimizer = make_optimizer(model, config)
        optimizer.load_state_dict(saved.optimizer_state)
        for group in optimizer.param_groups:  # the saved groups carry the old options
            group.update(weight_decay=config.weight_decay, decoupled_weight_decay=True)
        generator.set_state(saved.rng["generator"])
        torch.set_rng_state(saved.rng["torch"])
        state.history = [h for h in state.history if not h.get("partial")]
        print(f"Resuming from {saved.folder} (epoch {state.epoch}, step {state.step}).")
    else:
        model = VAE(
            latent_dim=config.latent_dim,
            arch=config.arch,
            channels=config.channels,
            hidden_dim=config.hidden_dim,
            latent_map_points=map_points,
            binarized=config.binarize,
            flow_steps=config.flow_steps,
        ).to(device)
        if config.init_from:
            _load_initial_weights(model, config)
        optimizer = make_optimizer(model, config)
        state = checkpoints.TrainState()
    if not config.ema_decay:
        ema = None
    elif ema is None:
        ema = copy.deepcopy(model)
    atomic_write_json(run_dir / "train_config.json", config.to_dict())

    def served() -> VAE:
        """The model to evaluate and publish: the weight average (with the training
        weights' buffers) when there is one."""
        if ema is None:
            return model
        sync_buffers(ema, model)
        return ema

    step_fn = torch.compile(model) if config.compile else model
    max_steps = DRY_RUN_STEPS if config.dry_run else config.max_steps
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(
        str(run_dir / "runs"), purge_step=state.epoch + 1 if config.resume else None
    )
    fixed = data.to_float(test.images[: IMAGE_GRID_PER_ROW * IMAGE_GRID_ROWS])
    result = TrainResult(run_dir, None, state)
    with StopFlag() as stop:
        max_seconds = 60 * config.max_minutes if config.max_minutes else None
        limits = Limits(max_steps, max_seconds, stop)
        try:
            while state.epoch < config.epochs and not limits.reached(state.step, state.elapsed):
                finished = train_one_epoch(
                    model, step_fn, optimizer, train, config, state, generator, limits, ema
                )
                if not finished and stop.requested:
                    break
                _end_epoch(served(), config, state, test, writer, fixed, finished)
                keep = finished and state.epoch % config.checkpoint_every == 0
                checkpoints.save_checkpoint(
                    run_dir, model, optimizer, state, _rng(generator), keep, ema
                )
                if not finished:
                    break
            if stop.requested:
                folder = checkpoints.save_checkpoint(
                    run_dir, model, optimizer, state, _rng(generator), False, ema
                )
                result.interrupted = True
                print(f"Stopped. Saved {folder}; continue with --resume.")
                return result
            result.final_dir = _finish(served(), config, train, test, state, writer)
            result.test = state.history[-1]["test"] if state.history else {}
        finally:
            writer.close()
    return result


def _end_epoch(model, config, state, test, writer, fixed, finished) -> None:
    """Evaluate, log and draw after an epoch. A partial epoch (ended by --max-steps or
    --max-minutes) is recorded as such and stays open, so --resume completes it."""
    sums = state.partial
    n = max(sums["images"], 1.0)
    train_terms = {"reconstruction": sums["reconstruction"] / n, "kl": sums["kl"] / n}
    train_terms["total"] = train_terms["reconstruction"] + train_terms["kl"]
    test_elbo = negative_elbo(model, test, seed=config.seed)
    test_terms = {
        "reconstruction": test_elbo.reconstruction,
        "kl": test_elbo.kl,
        "total": test_elbo.total,
    }
    epoch_number = state.epoch + 1
    for split, terms in (("train", train_terms), ("test", test_terms)):
        for part, value in terms.items():
            writer.add_scalar(f"{part}/{split}", value, epoch_number)
    writer.flush()
    entry = {
        "epoch": epoch_number,
        "step": state.step,
        "elapsed_s": round(state.elapsed, 2),
        "train_images": int(sums["images"]),
        "train": train_terms,
        "test": test_terms,
    }
    if not finished:
        entry["partial"] = True
    state.history.append(entry)
    tqdm.write(
        f"epoch {epoch_number}{'' if finished else ' (partial)'}: train "
        f"{train_terms['total']:.2f}  test {test_terms['total']:.2f} (recon "
        f"{test_terms['reconstruction']:.2f} + KL {test_terms['kl']:.2f}) nats/image"
    )
    if epoch_number % config.image_every == 0 or not finished:
        model.eval()
        with torch.inference_mode():
            recon = torch.sigmoid(model.decode(model.embed(fixed.to(model.device)))).cpu()
        plots.save_grid(
            plots.comparison_rows(fixed.cpu(), recon, IMAGE_GRID_PER_ROW),
            config.run_dir / "training_images" / f"epoch-{epoch_number:04d}.png",
            nrow=IMAGE_GRID_PER_ROW,
        )
    if finished:
        state.epoch += 1
        state.batch = 0
        state.partial = {}


def _finish(model, config, train, test, state, writer) -> Path:
    """Fit the class Gaussians and latent map, draw the t-SNE plot, evaluate (metrics also
    go to TensorBoard under eval/), write final/."""
    from .card import write_model_folder

    print("Fitting class Gaussians and the latent map ...")
    fit_latent_state(model, train, test, seed=config.seed)
    if model.has_latent_map:
        plots.save_latent_scatter(
            model.latent_map_xy,
            model.latent_map_labels,
            config.run_dir / "t_sne" / f"t_sne-epoch-{state.epoch:04d}.png",
            title=f"t-SNE of {model.latent_map_labels.shape[0]} test-set latent means",
        )
    metrics = None
    profile = "smoke" if config.dry_run and config.eval != "none" else config.eval
    if profile != "none":
        print(f"Evaluating ({profile}) ...")
        metrics = evaluate_model(
            model, train, test, profile=profile, seed=config.seed, progress=config.progress
        )
        print(format_table(metrics))
        for key in METRICS:
            if metrics.get(key) is not None:
                writer.add_scalar(f"eval/{key}", metrics[key], state.epoch)
        writer.flush()
    final = config.run_dir / checkpoints.CHECKPOINTS_DIR / "final"
    training = _training_summary(config, state, model, len(train))
    write_model_folder(model, final, training=training, metrics=metrics)
    print(f"Saved the trained model to {final}")
    return final


def _training_summary(
    config: TrainConfig, state: checkpoints.TrainState, model: VAE, train_size: int
) -> dict:
    return {
        "train_size": train_size,
        "config": {k: v for k, v in config.to_dict().items() if k not in PER_INVOCATION},
        "device": str(model.device),
        "epochs": state.epoch,
        "steps": state.step,
        "train_seconds": round(state.elapsed, 1),
        "history": state.history,
        "torch": torch.__version__,
    }


def _rng(generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {"generator": generator.get_state(), "torch": torch.get_rng_state()}


# What train.py itself puts in a run folder before its first checkpoint.
RUN_LEFTOVERS = {
    "train_config.json",
    "runs",
    "training_images",
    "t_sne",
    checkpoints.CHECKPOINTS_DIR,
}


def _prepare_run_dir(config: TrainConfig) -> None:
    """Check the run folder against --resume / --overwrite, and say what to do when they do
    not fit what the folder holds. A folder with no checkpoint and nothing but what a run
    writes before its first checkpoint (it was stopped early) is simply started anew."""
    run_dir = config.run_dir
    exists = checkpoints.has_checkpoint(run_dir)
    leftovers = _only_early_leftovers(run_dir)
    if config.resume and not exists:
        advice = "run the same command without --resume to start it" + (
            "" if leftovers else " (with --overwrite: the folder holds other files)"
        )
        raise ConfigError(
            f"--resume: nothing to resume in {run_dir}: it holds no checkpoint (a run stopped "
            f"before its first one saves none); {advice}"
        )
    if not config.resume and run_dir.exists() and any(run_dir.iterdir()):
        if exists and not config.overwrite:
            raise ConfigError(
                f"{run_dir} already holds a run; pass --resume to continue it, "
                "--overwrite to start over, or another --exp-name"
            )
        if not exists and not leftovers and not config.overwrite:
            raise ConfigError(
                f"{run_dir} holds files but no checkpoint of a run; pass --overwrite to "
                "replace them, or another --exp-name"
            )
        if not exists and leftovers:
            print(f"{run_dir} holds a run stopped before its first checkpoint; starting anew.")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(run_dir / checkpoints.CHECKPOINTS_DIR)


def _only_early_leftovers(run_dir: Path) -> bool:
    """True when `run_dir` holds only what train.py writes before its first checkpoint:
    options, logs, pictures, and in checkpoints/ at most hidden temporaries."""
    if not run_dir.is_dir():
        return True
    if any(entry.name not in RUN_LEFTOVERS for entry in run_dir.iterdir()):
        return False
    folder = run_dir / checkpoints.CHECKPOINTS_DIR
    return not folder.is_dir() or all(p.name.startswith(".") for p in folder.iterdir())


def _load_initial_weights(model: VAE, config: TrainConfig) -> None:
    """--init-from: copy the network weights of a saved model into the fresh `model`.

    The class Gaussians and the latent map are left out: they describe the old weights and
    are fitted again when this run finishes."""
    source = VAE.from_pretrained(config.init_from)
    _check_model_options(config, source, f"--init-from {config.init_from}: that model")
    derived = ("class_", "latent_map_")
    weights = {k: v for k, v in source.state_dict().items() if not k.startswith(derived)}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.startswith(derived)]
    if missing or unexpected:  # the options matched, so this is a bug, not a user error
        raise RuntimeError(f"--init-from: missing {missing}, unexpected {unexpected}")
    print(f"Starting from the weights of {config.init_from}.")


def _check_model_options(
    config: TrainConfig,
    model: VAE,
    what: str,
    advice: str = (
        "pass the same --arch/--latent-dim/--channels/--hidden-dim/--flow-steps/--binarize"
    ),
) -> None:
    """The flags that shape the network must match those `model` was built with."""
    wanted = {
        "arch": config.arch,
        "latent_dim": config.latent_dim,
        "channels": config.channels,
        "binarized": config.binarize,
        "flow_steps": config.flow_steps,
    }
    if config.hidden_dim is not None:
        wanted["hidden_dim"] = config.hidden_dim
    saved = {"flow_steps": 0, **model.config}  # configs from before flows had none
    different = {k: (saved.get(k), v) for k, v in wanted.items() if saved.get(k) != v}
    if different:
        detail = ", ".join(f"{k}: saved {a!r} vs now {b!r}" for k, (a, b) in different.items())
        raise ConfigError(f"{what} was trained with different model options ({detail}); {advice}")
