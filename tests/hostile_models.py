"""A generated corpus of hostile model folders: what a stranger's repo can hold.

Each case is a folder built from one small, valid saved model, changed in one way, with the
error every loader must answer it with (type and part of the message). Nothing here is
hand-written binary: each folder is derived from a real `save_pretrained`.
"""

from __future__ import annotations

import json
import pickle
import shutil
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
    tril = state["class_scale_tril"].clone()
    tril[3, 0, 1] = 0.5  # above the diagonal
    state["class_scale_tril"] = tril


def _negative_diagonal(state: dict) -> None:
    tril = state["class_scale_tril"].clone()
    tril[5, 2, 2] = -1.0
    state["class_scale_tril"] = tril


def _truncate(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


def _huge_header(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes((1 << 40).to_bytes(8, "little") + data[8:])


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
    Case("nan_class_means", _tensors(_poke("class_means", float("nan"))), "NaN or infinite"),
    Case("inf_weight", _tensors(_poke("decoder.fc.0.weight", float("inf"))), "NaN or infinite"),
    Case("not_cholesky", _tensors(_not_cholesky), "not a Cholesky factor"),
    Case("negative_scale", _tensors(_negative_diagonal), "not a Cholesky factor"),
    Case("bad_map_labels", _tensors(_poke("latent_map_labels", 42)), "latent_map_labels"),
    Case("missing_tensor", _tensors(lambda s: s.pop("decoder.fc.0.weight")), "missing tensors"),
    Case("extra_tensor", _tensors(lambda s: s.update(x=torch.zeros(1))), "unexpected tensors"),
    # already refused before: kept so they stay refused
    Case("truncated_weights", _truncate, "truncated or corrupt"),
    Case("huge_header", _huge_header, "header claims"),
    Case("symlinked_weights", _symlinked_weights, "not a readable safetensors|symbolic link"),
    Case("pickle_only", _pickle_only, "model.safetensors", ModelNotFoundError),
    Case("missing_config", _remove("config.json"), "config.json", ModelNotFoundError),
]


def small_model() -> VAE:
    return VAE(latent_dim=6, channels=4, hidden_dim=16, latent_map_points=10)


def build_corpus(root: Path) -> dict[str, Path]:
    """One folder per case under `root`; returns name -> folder."""
    valid = root / "valid"
    small_model().save_pretrained(valid)
    folders = {}
    for case in CASES:
        folder = root / case.name
        shutil.copytree(valid, folder)
        case.make(folder)
        folders[case.name] = folder
    return folders


def hub_files(folder: Path) -> dict[str, bytes]:
    """The folder's files as a Hub repo would serve them (symlinks read through)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
