"""A whole run: `run(config)` starts or resumes it (`start.py`), calls `train_one_epoch`
(`steps.py`) and `negative_elbo` per epoch, checkpoints atomically, logs to TensorBoard, and
finishes with the class Gaussians, the latent map, the end-of-run evaluation and the final
save_pretrained folder."""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from .. import data, plots
from ..atomic import atomic_write_json
from ..errors import DivergenceError, InvalidModelError
from ..evaluation.metrics import ElboTerms, negative_elbo
from ..evaluation.report import METRICS, evaluate_model, format_table
from ..hub.export import write_model_folder
from ..latent import fit_latent_state
from ..model import VAE, inference
from . import checkpoints
from .averaging import sync_buffers
from .control import Limits, StopFlag, TrainResult, resolve_device
from .options import (
    PER_INVOCATION,
    SAVED_OPTIONS,
    TrainConfig,
    recipe_command,
    saved_run_options,
)
from .run_folder import explained_failures, prepare_run_dir, run_lock
from .start import (
    check_model_options,
    check_resume_position,
    make_optimizer,
    resume_position,
    run_augmentation,
    start_model,
)
from .steps import train_one_epoch

DRY_RUN_STEPS = 5
DRY_RUN_TRAIN = 2000
DRY_RUN_EVAL = 500
DRY_RUN_TSNE = 200
IMAGE_GRID_PER_ROW = 8
IMAGE_GRID_ROWS = 4


def run(config: TrainConfig) -> TrainResult:
    """Train as `config` says, resuming if asked; see `train.py --help`. The run folder is
    locked for the whole run (ConfigError when another run holds it). A file that cannot
    be written (full disk, read-only folder) ends the run with a WriteError, a NaN or
    infinite loss with a DivergenceError; both say where the last good checkpoint is."""
    with run_lock(config), explained_failures(config):
        return _run(config)


def _run(config: TrainConfig) -> TrainResult:
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    run_dir = config.run_dir
    prepare_run_dir(config)

    torch.manual_seed(config.seed)  # initialisation and dropout; batches use their own RNGs
    train = data.load_mnist(config.data_dir, train=True, download=config.download)
    test = data.load_mnist(config.data_dir, train=False, download=config.download)
    if config.dry_run:  # seconds-long: train a few steps, score and map small subsets
        train, test = train.subset(DRY_RUN_TRAIN), test.subset(DRY_RUN_EVAL)
    position = resume_position(config, train)  # fingerprinted on the CPU, before the copy
    train, test = train.to(device), test.to(device)
    map_points = min(config.t_sne_points, DRY_RUN_TSNE if config.dry_run else len(test))

    generator = torch.Generator(device=device).manual_seed(config.seed)
    ema = None
    if config.resume:
        saved = checkpoints.load_checkpoint(run_dir, device)
        model, state = saved.model, saved.state
        check_model_options(
            config, model, f"--resume: {run_dir}", "pass the same options or use another --exp-name"
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
        if saved.raw_weights is not None:  # the folder holds the average; resume the weights
            ema, model = model, copy.deepcopy(model)
            model.load_state_dict(saved.raw_weights)
        augmentation = run_augmentation(model, config, saved.augmentation, device)
        optimizer = make_optimizer(model, config, augmentation)
        try:
            optimizer.load_state_dict(saved.optimizer_state)
        except (KeyError, ValueError, RuntimeError) as e:  # possible only without checksums
            state_file = saved.folder / checkpoints.STATE_FILE
            raise InvalidModelError(f"{state_file} is damaged: its optimizer state ({e})") from e
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
                    run_dir, model, optimizer, state, _rng(generator), keep, ema, augmentation,
                    position,
                )  # fmt: skip
                if not finished:
                    break
            if stop.requested:
                folder = checkpoints.save_checkpoint(
                    run_dir, model, optimizer, state, _rng(generator), False, ema, augmentation,
                    position,
                )  # fmt: skip
                result.interrupted = True
                result.signal = stop.signal
                print(f"Stopped. Saved {folder}; continue with --resume.")
                return result
            result.final_dir = _finish(served(), config, train, test, state, writer, last_elbo)
            result.test = state.history[-1]["test"] if state.history else {}
        finally:
            writer.close()
    return result


def _end_epoch(model, config, state, test, writer, fixed, finished) -> ElboTerms:
    """Evaluate, log and draw after an epoch. A partial epoch (ended by --max-steps or
    --max-minutes) is recorded as such and stays open, so --resume completes it. A NaN or
    infinite test loss is a DivergenceError, raised before anything is written."""
    sums = state.partial
    n = max(sums["images"], 1.0)
    train_terms = {"reconstruction": sums["reconstruction"] / n, "kl": sums["kl"] / n}
    train_terms["total"] = train_terms["reconstruction"] + train_terms["kl"]
    test_elbo = negative_elbo(model, test, seed=config.seed)
    if not math.isfinite(test_elbo.total):  # finite but huge weights: as bad as NaN ones
        raise DivergenceError(
            f"training diverged: the test loss became NaN or infinite by step {state.step}"
        )
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
