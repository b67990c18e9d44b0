"""A whole run: `run(config)` starts or resumes it (`start.py`), calls `train_one_epoch`
(`steps.py`) and `negative_elbo` per epoch, checkpoints atomically, logs to TensorBoard, and
finishes with the class Gaussians, the latent map, the end-of-run evaluation and the final
save_pretrained folder."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from ..capabilities.latent_space import fit_latent_state
from ..errors import DivergenceError
from ..evaluation.metrics import ElboTerms, negative_elbo
from ..evaluation.report import METRICS, evaluate_model, format_table
from ..files import mnist
from ..files.atomic import atomic_write_json
from ..hub.export import write_model_folder
from ..model.device import resolve_device
from ..model.vae import VAE, inference
from ..pictures import plots
from . import checkpoints
from .control import Limits, StopFlag, TrainResult
from .options import PER_INVOCATION, SAVED_OPTIONS, TrainConfig, recipe_command
from .run_folder import explained_failures, prepare_run_dir, run_lock
from .start import Trainee, resume_position, resume_run, start_run
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
    device = resolve_device(config.device)
    train, test = load_splits(config)  # found before anything is created
    with run_lock(config), explained_failures(config):
        return _run(config, device, train, test)


def load_splits(config: TrainConfig) -> tuple[mnist.MnistSplit, mnist.MnistSplit]:
    """The run's training and test splits, on the CPU: all of them, or for --dry-run small
    subsets, so that a smoke run takes seconds."""
    train = mnist.load_mnist(config.data_dir, train=True, download=config.download)
    test = mnist.load_mnist(config.data_dir, train=False, download=config.download)
    if config.dry_run:
        return train.subset(DRY_RUN_TRAIN), test.subset(DRY_RUN_EVAL)
    return train, test


def _run(
    config: TrainConfig, device: torch.device, train: mnist.MnistSplit, test: mnist.MnistSplit
) -> TrainResult:
    if config.threads:
        torch.set_num_threads(config.threads)
    prepare_run_dir(config)
    torch.manual_seed(config.seed)  # initialisation and dropout; batches use their own RNGs
    position = resume_position(config, train)  # fingerprinted on the CPU, before the copy
    train, test = train.to(device), test.to(device)
    if config.resume:
        trainee = resume_run(config, device, position)
    else:
        map_points = min(config.latent_map_points, DRY_RUN_TSNE if config.dry_run else len(test))
        trainee = start_run(config, train, map_points)
    atomic_write_json(config.run_dir / SAVED_OPTIONS, config.to_dict())
    purge = trainee.state.epoch + 1 if config.resume else None
    writer = SummaryWriter(str(config.run_dir / "runs"), purge_step=purge)
    try:
        return _train(config, trainee, train, test, writer, position)
    finally:
        writer.close()


def _train(config, trainee: Trainee, train, test, writer, position) -> TrainResult:
    """Epochs until the end or a limit, a checkpoint after each; then the finished model,
    or (stopped by Ctrl-C or SIGTERM) a last checkpoint to resume from."""
    state = trainee.state
    result = TrainResult(config.run_dir, None, state)
    step_fn = torch.compile(trainee.model) if config.compile else trainee.model
    max_steps = DRY_RUN_STEPS if config.dry_run else config.max_steps
    fixed = mnist.to_float(test.images[: IMAGE_GRID_PER_ROW * IMAGE_GRID_ROWS])
    last_elbo = None  # the served model's test ELBO, once an epoch has measured it
    with StopFlag() as stop:
        max_seconds = 60 * config.max_minutes if config.max_minutes else None
        limits = Limits(max_steps, max_seconds, stop)
        while state.epoch < config.epochs and not limits.reached(state.step, state.elapsed):
            finished = train_one_epoch(trainee, step_fn, train, config, limits)
            if not finished and stop.requested:
                break
            last_elbo = _end_epoch(trainee.served(), config, state, test, writer, fixed, finished)
            keep = finished and state.epoch % config.checkpoint_every == 0
            trainee.save(config.run_dir, keep, position)
            if not finished:
                break
        if stop.requested:
            folder = trainee.save(config.run_dir, False, position)
            result.interrupted = True
            result.signal = stop.signal
            print(f"Stopped. Saved {folder}; continue with --resume.")
            return result
    result.final_dir = _finish(trainee.served(), config, train, test, state, writer, last_elbo)
    result.test = state.history[-1]["test"] if state.history else {}
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
            recon = torch.sigmoid(model.decode(model.encode(fixed.to(model.device)).centre())).cpu()
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
    write_model_folder(
        model, final, training=training, metrics=metrics, decoder_onnx=config.decoder_onnx
    )
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
