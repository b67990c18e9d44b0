"""The training loop: `run(config)` calls `train_one_epoch` and `negative_elbo` per epoch,
checkpoints atomically, logs to TensorBoard, and finishes with the class Gaussians, the latent
map, the end-of-run evaluation and the final save_pretrained folder."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from .. import data, plots
from ..atomic import atomic_write_json
from ..errors import ConfigError
from ..evaluation.metrics import ElboTerms, negative_elbo
from ..evaluation.report import METRICS, evaluate_model, format_table
from ..hub.export import write_model_folder
from ..latent import fit_latent_state
from ..losses import elbo_loss
from ..model import VAE, inference
from ..schedules import cosine, kl_weight
from . import checkpoints
from .augmentation import ShiftAugmentation, shift_of
from .averaging import sync_buffers, update_ema
from .control import Limits, StopFlag, TrainResult, resolve_device
from .options import PER_INVOCATION, SAVED_OPTIONS, TrainConfig, recipe_command
from .run_folder import explained_write_failures, prepare_run_dir

DRY_RUN_STEPS = 5
DRY_RUN_TRAIN = 2000
DRY_RUN_EVAL = 500
DRY_RUN_TSNE = 200
IMAGE_GRID_PER_ROW = 8
IMAGE_GRID_ROWS = 4
LOG_EVERY = 50  # steps between reads of the running loss (each read is a host sync)


def make_optimizer(
    model: VAE, config: TrainConfig, augmentation: ShiftAugmentation | None = None
) -> torch.optim.Optimizer:
    """Adam; with --weight-decay, AdamW's decoupled decay (Loshchilov & Hutter 2019). The
    augmentation's biases, when there are any, are trained with the model."""
    params = [*model.parameters(), *(augmentation.parameters() if augmentation else ())]
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def start_model(
    config: TrainConfig, train: data.MnistSplit, map_points: int
) -> tuple[VAE, ShiftAugmentation | None, torch.optim.Optimizer]:
    """A new run's model on the device of `train` (the --init-from weights, when given), its
    shift biases (None without --augment-shift) and its optimiser. A class mixture is
    weighted by the digits' frequencies in `train`."""
    device = train.images.device
    model = VAE(**config.model_config(latent_map_points=map_points)).to(device)
    if model.prior is not None:
        counts = torch.bincount(train.labels, minlength=10).clamp_min(1)
        model.prior.set_class_frequencies(counts)
    if config.init_from:
        _load_initial_weights(model, config)
    augmentation = _augmentation(model, config, None, device)
    return model, augmentation, make_optimizer(model, config, augmentation)


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
    augmentation: ShiftAugmentation | None = None,
) -> bool:
    """Run (the rest of) epoch `state.epoch`, updating `state` (and the weight average
    `ema`) in place. Returns True when the epoch finished, False when a limit stopped it
    part-way (state.batch says where). With `augmentation`, a share of each batch is
    shifted and the networks are told the shifts.

    A step never waits for the device: the loss sums stay there and are read every
    LOG_EVERY steps for the progress bar, and once at the end."""
    model.train()
    device = train.images.device
    per_epoch = data.num_batches(len(train), config.batch_size)
    order = data.epoch_permutation(len(train), config.seed, state.epoch, device)
    partial = state.partial or {"reconstruction": 0.0, "kl": 0.0, "images": 0.0}
    sums = torch.tensor(  # reconstruction, KL (nats, summed over images)
        [partial["reconstruction"], partial["kl"]], dtype=torch.float64, device=device
    )
    images = int(partial["images"])
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
            x = data.as_batch(train.images[idx], config.binarize, generator)  # (B, 1, 28, 28)
            reconstruction, kl = train_step(
                model, step_fn, optimizer, x, train.labels[idx], config, state.step, per_epoch,
                generator, ema=ema, augmentation=augmentation,
            )  # fmt: skip
            state.step += 1
            state.batch += 1
            n = x.shape[0]
            sums += torch.stack([reconstruction, kl]).double() * n
            images += n
            bar.update(1)
            if config.progress and (state.batch % LOG_EVERY == 0 or state.batch == per_epoch):
                recon_sum, kl_sum = sums.tolist()
                bar.set_postfix(loss=f"{(recon_sum + kl_sum) / images:.2f}",
                                kl=f"{kl_sum / images:.2f}")  # fmt: skip
            trained = state.elapsed + time.monotonic() - started
            if state.batch < per_epoch and limits.reached(state.step, trained):
                finished = False
                break
    finally:
        bar.close()
        state.elapsed += time.monotonic() - started
        recon_sum, kl_sum = sums.tolist()
        state.partial = {"reconstruction": recon_sum, "kl": kl_sum, "images": float(images)}
    return finished


def train_step(
    model: VAE,
    step_fn: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
    step: int,
    per_epoch: int,
    generator: torch.Generator,
    *,
    ema: VAE | None = None,
    augmentation: ShiftAugmentation | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on the batch x (B, 1, 28, 28) with its labels (B,), the run's
    `step`-th: shift a share of it when there is an `augmentation`, set the learning rate
    and KL weight of this step, update the weights and their average. `step_fn` is `model`
    or its compiled form. Returns the batch's mean reconstruction and KL terms, detached but
    left on the device, so that the step does not wait for it."""
    biases = None
    if augmentation is not None:
        x, biases = augmentation(x, generator)  # x shifted: the target is the shifted x
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=x.is_cuda):
        logits, kl = step_fn(x, generator, labels, biases)  # bf16 on CUDA only
    reconstruction, kl = elbo_loss(logits.float(), x, kl.float())
    beta = kl_weight(step, per_epoch, config.kl_warmup_epochs)
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(config, step, per_epoch * config.epochs)
    optimizer.zero_grad(set_to_none=True)
    (reconstruction + beta * kl).backward()
    optimizer.step()
    if ema is not None:
        update_ema(ema, model, config.ema_decay, step)
    return reconstruction.detach(), kl.detach()


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    if config.lr_schedule == "cosine":
        return config.lr * cosine(step, total_steps)
    return config.lr


def run(config: TrainConfig) -> TrainResult:
    """Train as `config` says, resuming if asked; see `train.py --help`. A file that cannot
    be written (full disk, read-only folder) ends the run with a WriteError."""
    with explained_write_failures(config):
        return _run(config)


def _run(config: TrainConfig) -> TrainResult:
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    run_dir = config.run_dir
    prepare_run_dir(config)

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
        augmentation = _augmentation(model, config, saved.augmentation, device)
        optimizer = make_optimizer(model, config, augmentation)
        optimizer.load_state_dict(saved.optimizer_state)
        for group in optimizer.param_groups:  # the saved groups carry the old options
            group.update(weight_decay=config.weight_decay, decoupled_weight_decay=True)
        generator.set_state(saved.rng["generator"])
        torch.set_rng_state(saved.rng["torch"])
        state.history = [h for h in state.history if not h.get("partial")]
        print(f"Resuming from {saved.folder} (epoch {state.epoch}, step {state.step}).")
    else:
        model, augmentation, optimizer = start_model(config, train, map_points)
        state = checkpoints.TrainState()
    if not config.ema_decay:
        ema = None
    elif ema is None:
        ema = copy.deepcopy(model)
    atomic_write_json(run_dir / SAVED_OPTIONS, config.to_dict())

    def served() -> VAE:
        """The model to evaluate and publish: the weight average (with the training
        weights' buffers) when there is one."""
        if ema is None:
            return model
        sync_buffers(ema, model)
        return ema

    step_fn = torch.compile(model) if config.compile else model
    max_steps = DRY_RUN_STEPS if config.dry_run else config.max_steps
    writer = SummaryWriter(
        str(run_dir / "runs"), purge_step=state.epoch + 1 if config.resume else None
    )
    fixed = data.to_float(test.images[: IMAGE_GRID_PER_ROW * IMAGE_GRID_ROWS])
    result = TrainResult(run_dir, None, state)
    last_elbo = None  # the served model's test ELBO, once an epoch has measured it
    with StopFlag() as stop:
        max_seconds = 60 * config.max_minutes if config.max_minutes else None
        limits = Limits(max_steps, max_seconds, stop)
        try:
            while state.epoch < config.epochs and not limits.reached(state.step, state.elapsed):
                finished = train_one_epoch(
                    model, step_fn, optimizer, train, config, state, generator, limits, ema,
                    augmentation,
                )  # fmt: skip
                if not finished and stop.requested:
                    break
                last_elbo = _end_epoch(served(), config, state, test, writer, fixed, finished)
                keep = finished and state.epoch % config.checkpoint_every == 0
                checkpoints.save_checkpoint(
                    run_dir, model, optimizer, state, _rng(generator), keep, ema, augmentation
                )
                if not finished:
                    break
            if stop.requested:
                folder = checkpoints.save_checkpoint(
                    run_dir, model, optimizer, state, _rng(generator), False, ema, augmentation
                )
                result.interrupted = True
                print(f"Stopped. Saved {folder}; continue with --resume.")
                return result
            result.final_dir = _finish(served(), config, train, test, state, writer, last_elbo)
            result.test = state.history[-1]["test"] if state.history else {}
        finally:
            writer.close()
    return result


def _end_epoch(model, config, state, test, writer, fixed, finished) -> ElboTerms:
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
        with inference(model):
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
    return test_elbo


def _finish(model, config, train, test, state, writer, test_elbo=None) -> Path:
    """Fit the class Gaussians and latent map, draw the t-SNE plot, evaluate (metrics also
    go to TensorBoard under eval/; `test_elbo` is the last epoch's, not measured again),
    write final/."""
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
            model, train, test, profile=profile, seed=config.seed, progress=config.progress,
            elbo=test_elbo,
        )  # fmt: skip
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
        "command": recipe_command(config.to_dict()),
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


def _augmentation(
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


def _check_model_options(
    config: TrainConfig,
    model: VAE,
    what: str,
    advice: str = (
        "pass the same --arch/--latent-dim/--channels/--hidden-dim/--flow-steps/--prior/--binarize"
    ),
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
