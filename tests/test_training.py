"""The training loop end to end on the shipped MNIST subset: outputs, resume, interrupts."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from vae_hub import VAE
from vae_hub.errors import ConfigError
from vae_hub.model.device import resolve_device
from vae_hub.training.checkpoints import LATEST, load_checkpoint
from vae_hub.training.loop import run
from vae_hub.training.schedules import kl_weight
from vae_hub.training.steps import learning_rate

from .conftest import DATA_DIR, tiny_config, train_cmd, wait_for


def test_a_run_writes_checkpoints_images_tsne_and_tensorboard(trained_model_dir):
    run_dir = trained_model_dir.parents[1]
    final = sorted(p.name for p in trained_model_dir.iterdir())
    assert final == sorted(
        [
            "README.md",
            "config.json",
            "decoder.onnx",
            "model.safetensors",
            "training.json",
            "metrics.json",
            "samples.png",
            "digits.png",
            "digit_transit.png",
            "latent_map.png",
            "loss_curves.png",
        ]
    )
    assert json.loads((run_dir / "checkpoints" / LATEST).read_text())["checkpoint"] == "epoch-0002"
    assert (run_dir / "checkpoints" / "epoch-0002" / "training_state.safetensors").is_file()
    assert not (run_dir / "checkpoints" / "epoch-0001").exists()  # pruned: not a keeper
    assert sorted(p.name for p in (run_dir / "training_images").iterdir()) == [
        "epoch-0001.png",
        "epoch-0002.png",
    ]
    assert len(list((run_dir / "t_sne").glob("*.png"))) == 1
    assert json.loads((run_dir / "train_config.json").read_text())["latent_dim"] == 4

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "runs"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for part in ("reconstruction", "kl", "total"):
        assert {f"{part}/train", f"{part}/test"} <= tags
    assert [e.step for e in events.Scalars("total/test")] == [1, 2]
    assert {"eval/negative_elbo", "eval/iwae_nll", "eval/fd"} <= tags


def test_training_lowers_the_test_loss_and_fits_the_latent_state(trained_model_dir):
    history = json.loads((trained_model_dir / "training.json").read_text())["history"]
    assert history[-1]["test"]["total"] < history[0]["test"]["total"]
    model = VAE.from_pretrained(trained_model_dir)
    assert model.prior.can_draw_digits and model.has_latent_map
    assert model.prior.class_counts.sum().item() == 600
    assert model.latent_map_labels.shape == (60,)


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    a = run(tiny_config(tmp_path, exp_name="a", max_steps=4, latent_map_points=0))
    b = run(tiny_config(tmp_path, exp_name="b", max_steps=4, latent_map_points=0))
    c = run(tiny_config(tmp_path, exp_name="c", max_steps=4, latent_map_points=0, seed=1))
    wa, wb, wc = _weights(a.final_dir), _weights(b.final_dir), _weights(c.final_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not torch.equal(wa["decoder.fc.0.weight"], wc["decoder.fc.0.weight"])


def test_resume_mid_epoch_matches_an_uninterrupted_run(tmp_path):
    straight = run(tiny_config(tmp_path, exp_name="straight", latent_map_points=0))
    first = run(tiny_config(tmp_path, exp_name="split", latent_map_points=0, max_steps=5))
    assert first.state.epoch == 0 and first.state.batch == 5
    resumed = run(tiny_config(tmp_path, exp_name="split", latent_map_points=0, resume=True))
    assert resumed.state.step == straight.state.step == 18
    w1, w2 = _weights(straight.final_dir), _weights(resumed.final_dir)
    assert w1.keys() == w2.keys()
    for key in w1:
        assert torch.equal(w1[key], w2[key]), key
    epochs = [h["epoch"] for h in resumed.state.history]
    assert epochs == [1, 2]


@pytest.mark.parametrize("arch", ["genzoo", "mlp"])
def test_other_archs_train_through_the_same_loop(tmp_path, arch):
    result = run(
        tiny_config(tmp_path, arch=arch, hidden_dim=None, max_steps=3, latent_map_points=20)
    )
    model = VAE.from_pretrained(result.final_dir)
    assert model.config["arch"] == arch and model.prior.can_draw_digits


def test_kl_warmup_and_cosine_schedule_run(tmp_path):
    config = tiny_config(tmp_path, kl_warmup_epochs=1.0, lr_schedule="cosine", latent_map_points=0)
    assert kl_weight(0, 9, 1.0) == 0.0 and kl_weight(9, 9, 1.0) == 1.0 and kl_weight(5, 9, 0) == 1.0
    assert learning_rate(config, 0, 18) == config.lr and learning_rate(config, 18, 18) < 1e-12
    assert run(config).final_dir is not None


def test_binarized_training_marks_the_model(tmp_path):
    result = run(tiny_config(tmp_path, binarized=True, max_steps=2, latent_map_points=0))
    assert VAE.from_pretrained(result.final_dir).binarized


def test_an_existing_run_is_not_overwritten_by_accident(tmp_path):
    run(tiny_config(tmp_path, max_steps=1, latent_map_points=0))
    with pytest.raises(ConfigError, match="already holds a run"):
        run(tiny_config(tmp_path, max_steps=1, latent_map_points=0))
    assert run(tiny_config(tmp_path, max_steps=1, latent_map_points=0, overwrite=True)).final_dir


def test_resume_needs_a_checkpoint_and_matching_model_options(tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint"):
        run(tiny_config(tmp_path, resume=True))
    run(tiny_config(tmp_path, max_steps=2, latent_map_points=0))
    with pytest.raises(ConfigError, match="latent_dim: saved 4 vs now 5"):
        run(tiny_config(tmp_path, resume=True, latent_dim=5))


def test_a_flow_posterior_trains_and_its_option_is_checked_on_resume(tmp_path):
    result = run(tiny_config(tmp_path, flow_steps=2, max_steps=3, latent_map_points=20))
    model = VAE.from_pretrained(result.final_dir)
    assert model.config["flow_steps"] == 2 and len(model.flow.steps) == 2
    assert model.prior.can_draw_digits and model.has_latent_map
    metrics = json.loads((result.final_dir / "metrics.json").read_text())
    assert metrics["iwae_nll"] <= metrics["negative_elbo"] + 1.0  # a bound, k samples tighter
    with pytest.raises(ConfigError, match="flow_steps: saved 2 vs now 0"):
        run(tiny_config(tmp_path, resume=True))


def test_unavailable_device_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="not a device"):
        resolve_device("tpu")
    assert resolve_device("auto").type in ("cpu", "mps")


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_resume_finishes(tmp_path, signum, code):
    """Ctrl-C, and SIGTERM as docker stop, systemd, SLURM preemption and `timeout` send it:
    the step finishes, a checkpoint is saved, the exit status is 128 + the signal."""
    proc = subprocess.Popen(
        train_cmd(tmp_path, "--epochs", "500"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(tmp_path / "long" / "checkpoints" / LATEST)
    time.sleep(0.3)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "continue with --resume" in out and "Traceback" not in err
    state = load_checkpoint(tmp_path / "long").state
    done = subprocess.run(
        train_cmd(tmp_path, "--resume", "--max-steps", str(state.step + 3)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "long" / "checkpoints" / "final" / "model.safetensors").is_file()
    saved = json.loads((tmp_path / "long" / "train_config.json").read_text())
    assert saved["epochs"] == 500 and saved["channels"] == 4  # resumed with the run's options


def test_a_run_killed_at_any_moment_still_resumes(tmp_path):
    """SIGKILL (no cleanup at all) at arbitrary moments: the newest checkpoint always loads."""
    folder = tmp_path / "long" / "checkpoints"
    for attempt in range(4):
        extra = ("--epochs", "500") if attempt == 0 else ("--resume",)
        proc = subprocess.Popen(
            train_cmd(tmp_path, *extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(folder / LATEST)
        time.sleep(0.2 + 0.37 * attempt)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        saved = load_checkpoint(tmp_path / "long")
        state = saved.state
        assert VAE.from_pretrained(saved.folder).config["latent_dim"] == 4
        assert saved.optimizer_state["state"] and {"generator", "torch"} <= set(saved.rng)
    done = subprocess.run(
        train_cmd(tmp_path, "--resume", "--max-steps", str(state.step + 2)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # debris cleaned


def test_weight_averaging_is_saved_and_resumes_exactly(tmp_path):
    straight = run(tiny_config(tmp_path, exp_name="ema", latent_map_points=0, ema_decay=0.9))
    first = run(
        tiny_config(tmp_path, exp_name="ema2", latent_map_points=0, ema_decay=0.9, max_steps=5)
    )
    saved = load_checkpoint(first.run_dir)
    assert saved.raw_weights is not None  # the folder holds the average, the state the rest
    assert not torch.equal(saved.raw_weights["decoder.fc.0.weight"],
                           saved.model.state_dict()["decoder.fc.0.weight"])  # fmt: skip
    resumed = run(tiny_config(tmp_path, exp_name="ema2", latent_map_points=0, ema_decay=0.9,
                              resume=True))  # fmt: skip
    w1, w2 = _weights(straight.final_dir), _weights(resumed.final_dir)
    for key in w1:
        assert torch.equal(w1[key], w2[key]), key
    plain = run(tiny_config(tmp_path, exp_name="plain", latent_map_points=0))
    assert not torch.equal(_weights(plain.final_dir)["decoder.fc.0.weight"],
                           w1["decoder.fc.0.weight"])  # fmt: skip


def test_init_from_fine_tunes_a_saved_model_and_checks_its_options(trained_model_dir, tmp_path):
    start = VAE.from_pretrained(trained_model_dir)
    tuned = run(tiny_config(tmp_path, init_from=str(trained_model_dir), max_steps=1, lr=1e-9,
                            latent_map_points=20))  # fmt: skip
    assert tuned.state.step == 1  # a fresh schedule: the source's steps are not carried over
    model = VAE.from_pretrained(tuned.final_dir)
    weight = "decoder.fc.0.weight"
    assert torch.allclose(model.state_dict()[weight], start.state_dict()[weight], atol=1e-6)
    assert model.prior.can_draw_digits  # fitted again for the tuned weights
    with pytest.raises(ConfigError, match="latent_dim: saved 4 vs now 5.*--latent-dim"):
        run(tiny_config(tmp_path, exp_name="other", init_from=str(trained_model_dir),
                        latent_dim=5))  # fmt: skip
    with pytest.raises(ConfigError, match="half_res_blocks: saved 1 vs now 0.*--half-res-blocks"):
        run(tiny_config(tmp_path, exp_name="shallow", init_from=str(trained_model_dir),
                        half_res_blocks=0))  # fmt: skip
    with pytest.raises(ConfigError, match="Pick one"):
        tiny_config(tmp_path, init_from=str(trained_model_dir), resume=True)


def test_a_run_without_half_res_blocks_resumes_and_keeps_its_depth(tmp_path):
    first = run(tiny_config(tmp_path, exp_name="shallow", half_res_blocks=0, max_steps=2,
                            latent_map_points=0, eval="none"))  # fmt: skip
    assert VAE.from_pretrained(first.final_dir).config["half_res_blocks"] == 0
    with pytest.raises(ConfigError, match="half_res_blocks: saved 0 vs now 1"):
        run(tiny_config(tmp_path, exp_name="shallow", resume=True, max_steps=3))
    resumed = run(tiny_config(tmp_path, exp_name="shallow", resume=True, half_res_blocks=0,
                              max_steps=3, latent_map_points=0, eval="none"))  # fmt: skip
    assert resumed.state.step == 3
    assert VAE.from_pretrained(resumed.final_dir).config["half_res_blocks"] == 0


def test_weight_decay_is_decoupled_and_a_resumed_run_takes_the_new_value(tmp_path):
    first = run(tiny_config(tmp_path, exp_name="wd", latent_map_points=0, max_steps=3))
    saved = load_checkpoint(first.run_dir)
    assert saved.optimizer_state["param_groups"][0]["weight_decay"] == 0
    resumed = run(tiny_config(tmp_path, exp_name="wd", latent_map_points=0, max_steps=4,
                              resume=True, weight_decay=0.1))  # fmt: skip
    group = load_checkpoint(resumed.run_dir).optimizer_state["param_groups"][0]
    assert group["weight_decay"] == 0.1 and group["decoupled_weight_decay"]


# --- a failing disk, and runs stopped before their first checkpoint ----------------------------


# --- the training step never waits for the device ---------------------------------------------


class HostSyncCounter(torch.overrides.TorchFunctionMode):
    """Counts the tensor calls that read a value back to the host (on a GPU, each one stalls
    until the device catches up), leaving out the optimizer's own CPU step counters."""

    READS = {"item", "__bool__", "tolist", "__float__", "__int__", "__index__"}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in self.READS and not _called_from_the_optimizer():
            self.count += 1
        return func(*args, **(kwargs or {}))


def _called_from_the_optimizer() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if f"{os.sep}torch{os.sep}optim{os.sep}" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


@pytest.mark.parametrize("flow_steps, ema, shift", [(0, 0.0, 0), (2, 0.99, 2)])
def test_a_training_step_never_waits_for_the_device(tmp_path, flow_steps, ema, shift):
    from vae_hub.files.mnist import load_mnist
    from vae_hub.training.augmentation import ShiftAugmentation
    from vae_hub.training.checkpoints import TrainState
    from vae_hub.training.control import Limits, StopFlag
    from vae_hub.training.start import make_optimizer
    from vae_hub.training.steps import train_one_epoch
    from vae_hub.training.trainee import Trainee

    config = tiny_config(tmp_path, flow_steps=flow_steps, ema_decay=ema, lr_schedule="cosine",
                         kl_warmup_epochs=1.0, batch_size=16, augment_shift=shift)  # fmt: skip
    train = load_mnist(DATA_DIR, train=True, download=False)

    def reads_during(steps: int) -> int:
        model = VAE(**config.model_config())
        average = VAE(**config.model_config()) if ema else None
        shifts = ShiftAugmentation(model, shift, config.augment_share) if shift else None
        optimizer = make_optimizer(model, config, shifts)
        limits = Limits(steps, None, StopFlag())
        trainee = Trainee(model, optimizer, TrainState(), torch.Generator().manual_seed(0),
                          shifts, average)  # fmt: skip
        with HostSyncCounter() as counter:
            train_one_epoch(trainee, model, train, config, limits)
        return counter.count

    # Reads once per epoch (the loss sums, at its end); none per step.
    assert reads_during(12) == reads_during(3) <= 1


# --- divergence: stopped at once, and nothing bad is saved ---------------------------------------


def test_a_diverging_run_stops_naming_the_step_and_saves_nothing(tmp_path):
    fresh = subprocess.run(
        train_cmd(tmp_path, "--lr", "1e3", "--epochs", "2"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert fresh.returncode == 2 and "Traceback" not in fresh.stderr, fresh.stderr
    line = fresh.stderr.strip()
    assert "\n" not in line and re.search(r"NaN or infinite at step \d+", line), line
    assert "No checkpoint was written yet" in line and "lower --lr" in line
    assert not (tmp_path / "long" / "checkpoints" / LATEST).exists()
    # A good epoch, then a resume that diverges: the good checkpoint stays the newest.
    good = subprocess.run(
        train_cmd(tmp_path, "--epochs", "1"), capture_output=True, text=True, timeout=300
    )
    assert good.returncode == 0, good.stderr
    folder = tmp_path / "long" / "checkpoints" / "epoch-0001"
    diverged = subprocess.run(
        train_cmd(tmp_path, "--resume", "--epochs", "3", "--lr", "1e3"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert diverged.returncode == 2 and "Traceback" not in diverged.stderr, diverged.stderr
    assert f"The last good checkpoint is {folder}" in diverged.stderr
    saved = load_checkpoint(tmp_path / "long")
    assert saved.folder == folder and saved.state.epoch == 1
    assert all(torch.isfinite(p).all() for p in saved.model.parameters())


def test_weights_that_give_a_nan_test_loss_are_not_saved_either(tmp_path):
    """After one step at --lr 1e3 the weights are finite but so large that the test loss
    is NaN: that checkpoint would resume into NaN at once, so it is not written."""
    from vae_hub.errors import DivergenceError

    config = tiny_config(tmp_path, lr=1e3, max_steps=1, latent_map_points=0, eval="none")
    with pytest.raises(DivergenceError, match="test loss became NaN or infinite by step 1"):
        run(config)
    assert not (config.run_dir / "checkpoints" / LATEST).exists()


def test_a_checkpoint_with_nan_weights_is_never_written(tmp_path):
    from vae_hub.errors import DivergenceError
    from vae_hub.training.checkpoints import TrainState, save_checkpoint
    from vae_hub.training.start import make_optimizer

    config = tiny_config(tmp_path)
    model = VAE(**config.model_config())
    optimizer = make_optimizer(model, config)
    rng = {"torch": torch.get_rng_state()}
    first = save_checkpoint(tmp_path, model, optimizer, TrainState(epoch=1), rng, keep=False)
    with torch.no_grad():
        model.decoder.fc[0].weight[0, 0] = float("nan")
    with pytest.raises(DivergenceError, match="decoder.fc.0.weight"):
        save_checkpoint(tmp_path, model, optimizer, TrainState(epoch=2), rng, keep=False)
    assert not (tmp_path / "checkpoints" / "epoch-0002").exists()
    assert load_checkpoint(tmp_path).folder == first


# --- what a resumed run may change ----------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        ({"batch_size": 128}, "batch_size: saved 64 vs now 128"),
        ({"seed": 1}, "seed: saved 0 vs now 1"),
        ({"lr_schedule": "cosine"}, "lr_schedule: saved 'constant' vs now 'cosine'"),
        ({"kl_warmup_epochs": 1.0}, "kl_warmup_epochs: saved 0.0 vs now 1.0"),
        ({"augment_share": 0.25}, "augment_share: saved 0.5 vs now 0.25"),
    ],
)
def test_resume_refuses_options_that_change_what_the_saved_position_means(
    tmp_path, change, message
):
    first = run(tiny_config(tmp_path, latent_map_points=0, eval="none", max_steps=5))
    assert first.state.batch == 5
    with pytest.raises(ConfigError, match=message):
        run(tiny_config(tmp_path, latent_map_points=0, eval="none", resume=True, **change))
    # The options that may change do: a longer constant-rate run, another rate and decay.
    done = run(tiny_config(tmp_path, latent_map_points=0, eval="none", resume=True, epochs=3,
                           lr=1e-3, weight_decay=0.1))  # fmt: skip
    assert done.state.epoch == 3


def test_resume_with_another_batch_size_is_one_line(tmp_path):
    first = subprocess.run(
        train_cmd(tmp_path, "--max-steps", "5"), capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    proc = subprocess.run(
        train_cmd(tmp_path, "--resume", "--batch-size", "4096"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "batch_size: saved 32 vs now 4096" in proc.stderr and "--batch-size" in proc.stderr


def test_a_cosine_run_keeps_its_length_on_resume(tmp_path):
    run(tiny_config(tmp_path, latent_map_points=0, eval="none", lr_schedule="cosine", max_steps=5))
    with pytest.raises(ConfigError, match="epochs: saved 2 vs now 3"):
        run(tiny_config(tmp_path, resume=True, lr_schedule="cosine", epochs=3))


def test_resume_refuses_other_training_data(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    run(tiny_config(tmp_path, latent_map_points=0, eval="none", max_steps=5, data_dir=str(data)))
    images = data / "MNIST" / "raw" / "train-images-idx3-ubyte"
    content = bytearray(images.read_bytes())
    content[-1] ^= 0xFF  # one pixel of the last training image
    images.write_bytes(bytes(content))
    with pytest.raises(ConfigError, match="other data than --data-dir"):
        run(tiny_config(tmp_path, resume=True, data_dir=str(data)))


def test_a_checkpoint_of_an_earlier_version_is_checked_against_train_config_json(tmp_path):
    """Checkpoints written before they recorded their position: the run's options file
    says what the position means."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    first = run(tiny_config(tmp_path, latent_map_points=0, eval="none", max_steps=5))
    folder = load_checkpoint(first.run_dir).folder
    state_file = folder / "training_state.safetensors"
    with safe_open(str(state_file), framework="pt") as f:
        metadata = {k: v for k, v in f.metadata().items() if k != "position"}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    save_file(tensors, str(state_file), metadata=metadata)
    (folder / "checksums.json").unlink(missing_ok=True)
    with pytest.raises(ConfigError, match="batch_size: saved 64 vs now 128"):
        run(tiny_config(tmp_path, resume=True, batch_size=128))
