"""One training step and one epoch of them: the part of a run that `vae-hub speed` times too."""

from __future__ import annotations

import math
import time

import torch
from tqdm.auto import tqdm

from .. import data
from ..errors import DivergenceError
from ..losses import elbo_loss
from ..model import VAE
from ..schedules import cosine, kl_weight
from . import checkpoints
from .augmentation import ShiftAugmentation
from .averaging import update_ema
from .control import Limits
from .options import TrainConfig

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
    LOG_EVERY steps (for the progress bar and the divergence check) and once at the end.
    A NaN or infinite loss, or NaN or infinite weights, ends the epoch at that read with a
    DivergenceError naming the first step whose loss was not finite; so the caller never
    saves what a diverged run holds."""
    model.train()
    device = train.images.device
    per_epoch = data.num_batches(len(train), config.batch_size)
    order = data.epoch_permutation(len(train), config.seed, state.epoch, device)
    partial = state.partial or {"reconstruction": 0.0, "kl": 0.0, "images": 0.0}
    sums = torch.tensor(  # reconstruction, KL (nats, summed over images)
        [partial["reconstruction"], partial["kl"]], dtype=torch.float64, device=device
    )
    images = int(partial["images"])
    finite_steps = torch.zeros((), dtype=torch.int64, device=device)  # steps before a NaN/inf
    first_step = state.step
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
            x = data.as_batch(train.images[idx], config.binarized, generator)  # (B, 1, 28, 28)
            reconstruction, kl = train_step(
                model, step_fn, optimizer, x, train.labels[idx], config, state.step, per_epoch,
                generator, ema=ema, augmentation=augmentation,
            )  # fmt: skip
            state.step += 1
            state.batch += 1
            n = x.shape[0]
            sums += torch.stack([reconstruction, kl]).double() * n
            finite_steps += torch.isfinite(sums).all()  # stays put once a sum is NaN or inf
            images += n
            bar.update(1)
            if state.batch % LOG_EVERY == 0 and state.batch < per_epoch:
                recon_sum, kl_sum = checked_sums(sums, finite_steps, first_step, model, ema,
                                                 optimizer, state.step)  # fmt: skip
                bar.set_postfix(loss=f"{(recon_sum + kl_sum) / images:.2f}",
                                kl=f"{kl_sum / images:.2f}")  # fmt: skip
            trained = state.elapsed + time.monotonic() - started
            if state.batch < per_epoch and limits.reached(state.step, trained):
                finished = False
                break
        recon_sum, kl_sum = checked_sums(
            sums, finite_steps, first_step, model, ema, optimizer, state.step
        )
    finally:
        bar.close()
        state.elapsed += time.monotonic() - started
    state.partial = {"reconstruction": recon_sum, "kl": kl_sum, "images": float(images)}
    return finished


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
