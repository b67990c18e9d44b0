"""`vae-hub bench`: train each recipe for the same training-time budget on the same
data and machine, one after the other in one process, then score them side by side.

Prints a table per arch: parameters, epochs done, training images/s, test negative ELBO,
IWAE bound, prior-sample Frechet distance, digit-generation accuracy (at the model's default
temperature and at 1.0), and the training time each took to reach the genzoo arch's and the
MLP's final test loss.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import time
from pathlib import Path

import torch

from ..evaluation.judge import load_judge
from ..evaluation.metrics import digit_accuracy, iwae_nll, negative_elbo, prior_sample_fd
from ..files.atomic import atomic_write_json
from ..files.mnist import DEFAULT_DATA_DIR, load_mnist, num_batches
from ..model.vae import VAE
from ..training.loop import run
from ..training.options import TrainConfig
from .common import bounded, markdown_table

# Each entry with the recipe it is known by: the MLP and our conv as in their sources,
# genzoo with the original repository's batch size; "conv+iaf" is our conv with a flow
# posterior, "conv+iaf+mixture" adds the learned class-conditional prior, and
# "conv-light+iaf+mixture" is that without the residual blocks at 14x14.
RECIPES = {
    "mlp": {"arch": "mlp", "batch_size": 128, "lr": 1e-3},
    "genzoo": {"arch": "genzoo", "batch_size": 50, "lr": 1e-3},
    "conv": {"arch": "conv", "batch_size": 128, "lr": 1e-3},
    "conv+iaf": {"arch": "conv", "flow_steps": 4, "batch_size": 128, "lr": 1e-3},
    "conv+iaf+mixture": {
        "arch": "conv",
        "flow_steps": 4,
        "prior": "class-mixture",
        "batch_size": 128,
        "lr": 1e-3,
    },
    "conv-light+iaf+mixture": {
        "arch": "conv",
        "half_res_blocks": 0,
        "flow_steps": 4,
        "prior": "class-mixture",
        "batch_size": 128,
        "lr": 1e-3,
    },
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def time_to_reach(history: list[dict], target: float) -> float | None:
    """Training seconds until the test loss first reached `target` (epoch resolution)."""
    for entry in history:
        if entry["test"]["total"] <= target:
            return entry["elapsed_s"]
    return None


def run_arch(name: str, args: argparse.Namespace, train_size: int) -> dict:
    config = TrainConfig(
        epochs=100_000,
        max_minutes=args.minutes,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        exp_name=f"bench-{name.replace('+', '-')}",
        overwrite=True,
        seed=args.seed,
        latent_map_points=0,
        eval="none",
        progress=not args.quiet,
        checkpoint_every=10_000,
        image_every=10_000,
        compile=args.compile,
        **RECIPES[name],
    )
    result = run(config)
    state = result.state
    images = sum(h["train_images"] for h in state.history) if state.history else 0
    return {
        "name": name,
        "final_dir": str(result.final_dir),
        "parameters": None,
        "epochs": round(state.epoch + state.batch / num_batches(train_size, config.batch_size), 2),
        "steps": state.step,
        "train_seconds": state.elapsed,
        "images_per_second": images / state.elapsed if state.elapsed else 0.0,
        "history": state.history,
        **RECIPES[name],
    }


def score(row: dict, test, judge, args: argparse.Namespace) -> dict:
    model = VAE.from_pretrained(row["final_dir"])
    row["parameters"] = sum(p.numel() for p in model.parameters())
    row["test_negative_elbo"] = negative_elbo(model, test, seed=args.seed).total
    row["iwae_nll"] = iwae_nll(model, test.spread(args.iwae_images), k=args.iwae_k, seed=args.seed)
    row["fd"] = prior_sample_fd(model, test, judge, n=args.fd_samples, seed=args.seed)
    row["digit_accuracy"] = digit_accuracy(
        model, judge, per_digit=args.digit_samples, seed=args.seed
    )
    row["digit_accuracy_t1"] = digit_accuracy(
        model, judge, per_digit=args.digit_samples, seed=args.seed, temperature=1.0
    )
    return row


def format_rows(rows: list[dict], minutes: float, iwae: str) -> str:
    def t(seconds):
        return "-" if seconds is None else f"{seconds / 60:.1f} min"

    header = [
        "model",
        "parameters",
        "epochs",
        "train images/s",
        "test -ELBO",
        f"IWAE ({iwae})",
        "FD",
        "digit acc.",
        "digit acc. T=1",
        "to genzoo's final",
        "to MLP's final",
    ]
    cells = [
        [
            r["name"],
            f"{r['parameters']:,}",
            f"{r['epochs']:g}",
            f"{r['images_per_second']:,.0f}",
            f"{r['test_negative_elbo']:.2f}",
            f"{r['iwae_nll']:.2f}",
            f"{r['fd']:.2f}",
            f"{r['digit_accuracy']:.1%}",
            f"{r['digit_accuracy_t1']:.1%}",
            t(r.get("to_genzoo")),
            t(r.get("to_mlp")),
        ]
        for r in rows
    ]
    table = markdown_table(header, cells)
    return table + f"\n\n(each recipe trained for {minutes:g} minutes of training time)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--minutes", type=bounded(float, above=0), default=10.0, help="training minutes per recipe"
    )
    parser.add_argument(
        "--archs",
        nargs="+",
        default=list(RECIPES),
        choices=list(RECIPES),
        help="recipes to compare",
    )
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="folder with MNIST/raw/")
    parser.add_argument("--output-dir", default="experiments", help="where the runs go")
    parser.add_argument("--iwae-k", type=bounded(int, low=1), default=1000, help="IWAE samples")
    parser.add_argument(
        "--iwae-images",
        type=bounded(int, low=1),
        default=1000,
        help="test images for the IWAE bound",
    )
    parser.add_argument(
        "--fd-samples",
        type=bounded(int, low=2),
        default=10_000,
        help="prior samples for the Frechet distance",
    )
    parser.add_argument(
        "--digit-samples",
        type=bounded(int, low=1),
        default=500,
        help="samples per digit for digit accuracy",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every run")
    parser.add_argument("--compile", action="store_true", help="torch.compile each model")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")


def execute(args: argparse.Namespace) -> int:
    started = time.time()
    train = load_mnist(args.data_dir, train=True)
    test = load_mnist(args.data_dir, train=False)
    rows = [run_arch(name, args, len(train)) for name in args.archs]
    judge = load_judge()
    rows = [score(r, test, judge, args) for r in rows]
    finals = {r["name"]: r["test_negative_elbo"] for r in rows}
    for r in rows:
        if "genzoo" in finals:
            r["to_genzoo"] = time_to_reach(r["history"], finals["genzoo"])
        if "mlp" in finals:
            r["to_mlp"] = time_to_reach(r["history"], finals["mlp"])
    iwae = f"k={args.iwae_k}, {args.iwae_images} test images"
    command = shlex.join(["vae-hub", "bench", *args.argv])
    print(f"\nMachine: {machine()}\nCommand: {command}\n")
    print(format_rows(rows, args.minutes, iwae))
    if args.out:
        atomic_write_json(args.out, {"machine": machine(), "rows": rows, "started": started})
    return 0
