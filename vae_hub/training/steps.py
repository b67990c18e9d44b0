"""One training step and one epoch of them: the part of a run that `vae-hub speed` times too."""

from __future__ import annotations

import math
import time

import torch
from tqdm.auto import tqdm

from ..errors import DivergenceError
from ..files import mnist
from ..model.losses import elbo_loss
from ..model.vae import VAE
from . import checkpoints
from .augmentation import ShiftAugmentation
from .averaging import update_ema
from .control import Limits
from .options import TrainConfig
from .schedules import cosine, kl_weight
from .trainee import Trainee

LOG_EVERY = 50  # steps between reads of the running loss (each read is a host sync)


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


def train_one_epoch(
    trainee: Trainee,
    step_fn: torch.nn.Module,
    train: mnist.MnistSplit,
    config: TrainConfig,
    limits: Limits,
) -> bool:
    """Run (the rest of) epoch `trainee.state.epoch`, updating the trainee in place. Returns
    True when the epoch finished, False when a limit stopped it part-way (state.batch says
    where). `step_fn` is the model or its compiled form.

    A step never waits for the device: the loss sums stay there and are read every
    LOG_EVERY steps (for the progress bar and the divergence check) and once at the end.
    A NaN or infinite loss, or NaN or infinite weights, ends the epoch at that read with a
    DivergenceError naming the first step whose loss was not finite; so the caller never
    saves what a diverged run holds."""
    state = trainee.state
    trainee.model.train()
    device = train.images.device
    per_epoch = mnist.num_batches(len(train), config.batch_size)
    order = mnist.epoch_permutation(len(train), config.seed, state.epoch, device)
    sums = EpochSums(state, device)
    bar = _epoch_bar(config, state, per_epoch)
    started = time.monotonic()
    finished = True
    try:
        for idx in mnist.batch_indices(order, config.batch_size, start=state.batch):
            x = mnist.as_batch(train.images[idx], config.binarized, trainee.generator)
            reconstruction, kl = train_step(
                trainee.model, step_fn, trainee.optimizer, x, train.labels[idx], config,
                state.step, per_epoch, trainee.generator, ema=trainee.ema,
                augmentation=trainee.augmentation,
            )  # fmt: skip
            state.step += 1
            state.batch += 1
            sums.add(reconstruction, kl, x.shape[0])
            bar.update(1)
            if state.batch % LOG_EVERY == 0 and state.batch < per_epoch:
                bar.set_postfix(sums.read(trainee))
            trained = state.elapsed + time.monotonic() - started
            if state.batch < per_epoch and limits.reached(state.step, trained):
                finished = False
                break
        sums.read(trainee)
    finally:
        bar.close()
        state.elapsed += time.monotonic() - started
    state.partial = sums.partial()
    return finished


def _epoch_bar(config: TrainConfig, state: checkpoints.TrainState, per_epoch: int) -> tqdm:
    return tqdm(
        total=per_epoch,
        initial=state.batch,
        desc=f"epoch {state.epoch + 1}/{config.epochs}",
        unit="batch",
        disable=not config.progress,
        dynamic_ncols=True,
        leave=False,
    )


class EpochSums:
    """An epoch's running loss sums (reconstruction and KL, nats summed over images), kept
    on the device and read to the host only when asked, together with whether everything
    trained is still finite. It starts from a partial epoch's sums when resuming."""

    def __init__(self, state: checkpoints.TrainState, device: torch.device):
        partial = state.partial or {"reconstruction": 0.0, "kl": 0.0, "images": 0.0}
        self.sums = torch.tensor(
            [partial["reconstruction"], partial["kl"]], dtype=torch.float64, device=device
        )  # (2,)
        self.images = int(partial["images"])
        self.finite_steps = torch.zeros((), dtype=torch.int64, device=device)  # before a NaN
        self.first_step = state.step
        self.step = state.step
        self.values = (partial["reconstruction"], partial["kl"])

    def add(self, reconstruction: torch.Tensor, kl: torch.Tensor, n: int) -> None:
        """One step's batch means, for `n` images (no host sync)."""
        self.sums += torch.stack([reconstruction, kl]).double() * n
        self.finite_steps += torch.isfinite(self.sums).all()  # stays put once one is not
        self.images += n
        self.step += 1

    def read(self, trainee: Trainee) -> dict[str, str]:
        """Read the sums (one host sync) and check the loss and what is trained are finite
        (`checked_sums`); the progress bar's loss and KL per image."""
        self.values = checked_sums(
            self.sums, self.finite_steps, self.first_step, trainee.model, trainee.ema,
            trainee.optimizer, self.step,
        )  # fmt: skip
        recon_sum, kl_sum = self.values
        return {"loss": f"{(recon_sum + kl_sum) / self.images:.2f}",
                "kl": f"{kl_sum / self.images:.2f}"}  # fmt: skip

    def partial(self) -> dict[str, float]:
        """The sums as the last read saw them, for the state of a partial epoch."""
        recon_sum, kl_sum = self.values
        return {"reconstruction": recon_sum, "kl": kl_sum, "images": float(self.images)}


def checked_sums(
    sums: torch.Tensor,
    finite_steps: torch.Tensor,
    first_step: int,
    model: VAE,
    ema: VAE | None,
    optimizer: torch.optim.Optimizer,
    step: int,
) -> tuple[float, float]:
    """The running loss sums (2,), read to the host in one read together with whether the
    weights, their average and the optimiser's moments are all finite. DivergenceError when
    they are not: naming the first step (counted from 1) whose loss was NaN or infinite,
    `first_step` + `finite_steps` + 1, or `step` for weights gone bad under a finite loss."""
    watched = [*model.parameters(), *(ema.parameters() if ema is not None else ())]
    watched += [
        value
        for param_state in optimizer.state.values()
        for value in param_state.values()
        if torch.is_tensor(value) and value.device == sums.device  # not Adam's CPU step count
    ]
    weights_finite = torch.stack([torch.isfinite(t).all() for t in watched]).all()
    recon_sum, kl_sum, good_steps, weights_ok = torch.cat(
        [sums, torch.stack([finite_steps.double(), weights_finite.double()])]
    ).tolist()
    if not math.isfinite(recon_sum + kl_sum):
        bad = first_step + int(good_steps) + 1
        raise DivergenceError(f"training diverged: the loss became NaN or infinite at step {bad}")
    if not weights_ok:
        raise DivergenceError(
            f"training diverged: the weights became NaN or infinite by step {step}"
        )
    return recon_sum, kl_sum


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    if config.lr_schedule == "cosine":
        return config.lr * cosine(step, total_steps)
    return config.lr
