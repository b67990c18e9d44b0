"""One training step and one epoch of them: the part of a run that `vae-hub speed` times too."""

from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from .. import data
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


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    if config.lr_schedule == "cosine":
        return config.lr * cosine(step, total_steps)
    return config.lr
