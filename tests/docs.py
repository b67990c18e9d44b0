"""The parts of the README and the pages under docs/ that are generated from the code and
the bundled model's files, so that they cannot go stale, and the numbers about the bundled
model quoted in their prose, checked against the files that hold them.

A generated part sits between `<!-- generated: NAME ... -->` and `<!-- end generated -->`;
`python -m tests.docs --write` rewrites every one, and `tests/test_docs.py` fails while a page
differs from what this module generates. A number about the bundled model in prose carries
a marker, `<!--bundled:KEY-->86.00` (or `<!--bundled:KEY:.3f-->` for another format), that
the test compares with `bundled_values()`; a number that only happens to equal one is marked
`<!--other-model-->`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from vae_hub.evaluation.report import METRICS
from vae_hub.files.bundled import bundled_folder
from vae_hub.training.options import FIELDS, base_type

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[\w-]+)[^>]*-->\n)(?P<body>.*?)(<!-- end generated -->)", re.S
)
MARKER = re.compile(r"<!--bundled:(?P<key>\w+)(?::(?P<format>[^>]+))?-->(?P<value>[0-9][0-9,.]*%?)")

# The classic architectures beside the bundled model: `vae-hub bench --quiet --minutes 5`, one
# run, every recipe on the same 2-core CPU (the whole table is in docs/benchmarks.md).
BENCH_ROWS = [
    ("the bundled networks, 5 minutes (`conv+iaf+mixture`)", "5.6 epochs, 5 min",
     "95.04", "89.92", "46.11", "94.7% / 86.3%"),
    ("our conv VAE, Gaussian posterior, standard prior (`conv`)", "6.8 epochs, 5 min",
     "97.09", "91.93", "111.38", "99.7% / 92.1%"),
    ("GenZoo's conv VAE (`genzoo`)", "11.7 epochs, 5 min",
     "127.81", "123.36", "464.88", "94.6% / 77.4%"),
    ("the PyTorch examples' 784-400-20 MLP VAE (`mlp`)", "109.1 epochs, 5 min",
     "100.95", "95.96", "167.97", "99.7% / 92.2%"),
]  # fmt: skip


def bundled_files() -> tuple[dict, dict]:
    """The bundled model's metrics.json and training.json."""
    folder = bundled_folder()
    return (
        json.loads((folder / "metrics.json").read_text(encoding="utf-8")),
        json.loads((folder / "training.json").read_text(encoding="utf-8")),
    )


def bundled_values() -> dict[str, float]:
    """Every number about the bundled model that a page may quote, by marker key."""
    metrics, training = bundled_files()
    values = {key: metrics[key] for key in METRICS if metrics.get(key) is not None}
    values["iwae_se"] = metrics["iwae_se"]
    values["train_minutes"] = training["train_seconds"] / 60
    values["train_loss"] = training["history"][-1]["train"]["total"]
    values["epochs"] = training["epochs"]
    return values


def formatted(key: str, spec: str | None = None) -> str:
    """A bundled value as pages show it: the card's format unless `spec` says otherwise."""
    value = bundled_values()[key]
    if spec:
        return format(value, spec)
    if key in METRICS:
        return METRICS[key][2].format(value)
    return {"train_minutes": "{:.1f}", "epochs": "{:d}"}.get(key, "{:.2f}").format(value)


def results_table() -> str:
    """The README's results: the bundled model (from its files) beside the bench's recipes."""
    metrics, training = bundled_files()
    bundled = (
        "**vae-hub, the bundled model**",
        f"{training['epochs']} epochs, {training['train_seconds'] / 60:.0f} min",
        f"**{formatted('negative_elbo')}**",
        f"**{formatted('iwae_nll')}** ± {formatted('iwae_se')}",
        f"**{formatted('fd')}**",
        f"**{formatted('digit_accuracy')}** / **{formatted('digit_accuracy_t1')}**",
    )
    header = ("model", "training", "test -ELBO", "IWAE bound", "Frechet distance",
              f"digit accuracy, T={metrics['digit_temperature']:g} / T=1")  # fmt: skip
    rows = [header, ("---",) * len(header), bundled, *BENCH_ROWS]
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    return (
        f"{table}\n\nThe bundled model's IWAE bound is k={metrics['iwae_k']} on all "
        f"{metrics['iwae_images']:,} test digits, the others' k=1000 on 1,000 of them; the "
        f"training times are on this CPU, the bundled model's with `--compile`.\n"
    )


def train_flags_table() -> str:
    """Every option of train.py, from the dataclass its flags are made of."""
    rows = [("flag", "default", "meaning"), ("---", "---", "---")]
    for name, field in FIELDS.items():
        kind, _ = base_type(name)
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            flag += f"`, `--no-{name.replace('_', '-')}"
            default = "on" if field.default else "off"
        else:
            default = "" if field.default is None else str(field.default)
        meaning = field.metadata["help"]
        if field.metadata.get("choices"):
            meaning += f" ({' / '.join(field.metadata['choices'])})"
        rows.append((f"`{flag}`", default, meaning.replace("|", "\\|")))
    return "\n".join("| " + " | ".join(row) + " |" for row in rows) + "\n"


# The values a page is most likely to copy by hand; each occurrence must carry a marker.
SCANNED = ("negative_elbo", "iwae_nll", "fd", "digit_accuracy", "digit_accuracy_t1",
           "probe_accuracy", "reconstruction", "kl", "train_minutes")  # fmt: skip


def wrong_markers(text: str) -> list[str]:
    """The markers of `text` whose number is not the bundled model's (or whose key is
    unknown)."""
    values = bundled_values()
    return [
        m.group(0)
        for m in MARKER.finditer(text)
        if m.group("key") not in values
        or m.group("value") != formatted(m.group("key"), m.group("format"))
    ]


def unmarked_numbers(text: str) -> list[str]:
    """Numbers in `text`, outside its generated parts, that equal a bundled value and carry
    no marker: hand copies that would go stale when the model is retrained."""
    text = without_generated(text)
    found = []
    for key in SCANNED:
        value = formatted(key)
        for match in re.finditer(rf"(?<![\d.]){re.escape(value)}(?![\d])", text):
            if not text[: match.start()].endswith("-->"):
                found.append(f"{key} {text[max(0, match.start() - 50) : match.end()]!r}")
    return found


GENERATORS: dict[str, Callable[[], str]] = {
    "results": results_table,
    "train-flags": train_flags_table,
}


def generated(text: str) -> str:
    """`text` with every generated part rewritten."""

    def fill(match: re.Match) -> str:
        return match.group(1) + GENERATORS[match.group("name")]() + match.group(4)

    return BLOCK.sub(fill, text)


def without_generated(text: str) -> str:
    """`text` with the bodies of its generated parts left out (they are checked whole)."""
    return BLOCK.sub(lambda m: m.group(1) + m.group(4), text)


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print("usage: python -m tests.docs --write", file=sys.stderr)
        return 2
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        if generated(text) != text:
            page.write_text(generated(text), encoding="utf-8")
            print(f"rewrote {page.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
