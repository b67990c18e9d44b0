"""Reading a model folder safely: where its two files are, and what they may contain.

A model is config.json (the constructor arguments) and model.safetensors (the tensors). Both
may come from a stranger, so each is sized from its first bytes before it can cost memory,
parsed by a reader that refuses anything unusual, and compared with what the config says the
model holds before a single tensor is allocated. In a local folder both must be regular files
(a link, FIFO or device is refused by name: `regular_files`); the HF cache's links into its
blobs are huggingface_hub's own. Only JSON and safetensors are ever parsed:
a downloaded file can describe a wrong model, never run code. Every problem becomes one
`InvalidModelError` naming the file.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import SafetensorError, safe_open

from ..errors import InvalidModelError, ModelNotFoundError, UnsafeFileError
from .regular_files import open_regular, read_regular_bytes, reopenable_path

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# The decoder for browsers (written by model/onnx.py), served as bytes, never run here.
DECODER_ONNX = "decoder.onnx"
# A vae-hub config.json is a few hundred bytes and a safetensors header a few KB; these
# bounds leave room for growth while keeping a hostile file from costing memory to read.
MAX_CONFIG_BYTES = 64 * 1024
MAX_HEADER_BYTES = 1024 * 1024
# A decoder.onnx holds the decoder's weights: a few MB for any model the schema allows but
# the largest; a stranger's larger file is not read into memory to be served.
MAX_DECODER_ONNX_BYTES = 64 * 1024 * 1024
SAFETENSORS_DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.bool: "BOOL",
}


@dataclass(frozen=True)
class ModelFiles:
    """Where a model's two files are. A local folder's must be regular files in it; the
    HF cache's are links into the cache's blobs, which is how huggingface_hub stores them."""

    config: Path
    weights: Path
    in_hub_cache: bool = False


@dataclass(frozen=True)
class TensorSpec:
    """What a tensor must look like: shape and safetensors dtype name ("F32", "I64", ...)."""

    shape: tuple[int, ...]
    dtype: str

    @classmethod
    def of(cls, tensor: torch.Tensor) -> TensorSpec:
        return cls(tuple(tensor.shape), SAFETENSORS_DTYPES.get(tensor.dtype, str(tensor.dtype)))


# --- where the files are ------------------------------------------------------------------


def looks_like_local_path(name: str) -> bool:
    """True for names that can only mean a folder (a repo id is `name` or `owner/name`):
    one that starts with `.`, `/` or `~`, or whose parent folder exists here, as in a
    typo such as `vae_hub/pretrainde`, which is then reported at once rather than after the
    Hub has been tried."""
    parent = os.path.dirname(name)
    return (
        name.startswith((".", "/", "~"))
        or "\\" in name
        or name.count("/") > 1
        or os.path.exists(name)
        or (parent not in ("", ".") and os.path.isdir(parent))
    )


def locate(name: str, **hub_kwargs) -> ModelFiles:
    """The config.json and model.safetensors of a local folder or of a Hub repo id;
    `hub_kwargs` (revision, cache_dir, token, force_download, local_files_only) go to
    huggingface_hub's download."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        for filename in (CONFIG_NAME, WEIGHTS_NAME):
            if not os.path.lexists(folder / filename):  # a link or FIFO is refused by name
                raise ModelNotFoundError(
                    f"{folder / filename} is missing: a vae-hub model folder holds "
                    f"{CONFIG_NAME} and {WEIGHTS_NAME}, as written by VAE.save_pretrained()"
                )
        return ModelFiles(folder / CONFIG_NAME, folder / WEIGHTS_NAME)
    if looks_like_local_path(name):
        raise ModelNotFoundError(f"no model folder at {name!r}")
    return download(name, **hub_kwargs)


def download(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    force_download: bool = False,
    token: str | bool | None = None,
    local_files_only: bool = False,
) -> ModelFiles:
    """Fetch config.json and model.safetensors of one commit of `repo_id` into the HF cache.

    The weights are fetched at the commit the config came from, so a push between the two
    downloads cannot pair one commit's config with another's weights.
    """
    kwargs = dict(
        cache_dir=cache_dir,
        force_download=force_download,
        token=token,
        local_files_only=local_files_only,
    )
    config = Path(_download(repo_id, CONFIG_NAME, revision, **kwargs))
    commit = config.parent.name if config.parent.parent.name == "snapshots" else revision
    weights = Path(_download(repo_id, WEIGHTS_NAME, commit, **kwargs))
    return ModelFiles(config, weights, in_hub_cache=True)


def _download(
    repo_id: str, filename: str, revision: str | None, missing_ok: bool = False, **kwargs
) -> str | None:
    """hf_hub_download, its errors as one ModelNotFoundError each; None for a file the repo
    does not have when `missing_ok`."""
    where = f"{repo_id!r} on {constants.ENDPOINT}"
    try:
        return hf_hub_download(repo_id, filename, revision=revision, **kwargs)
    except EntryNotFoundError as e:  # LocalEntryNotFoundError too: not in the cache, offline
        if missing_ok:
            return None
        error = e
    except HFValidationError as e:
        raise ModelNotFoundError(
            f"{repo_id!r} is neither a model folder nor a valid Hub repo id ('owner/name'): {e}"
        ) from e
    except RepositoryNotFoundError as e:
        raise ModelNotFoundError(
            f"no model repo {where} (if it is private or gated, pass token= or set HF_TOKEN), "
            f"and no local folder {repo_id!r} either"
        ) from e
    except RevisionNotFoundError as e:
        raise ModelNotFoundError(f"no revision {revision!r} in {where}") from e
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise ModelNotFoundError(f"downloading {filename} of {where} failed (HTTP {status})") from e
    if isinstance(error, LocalEntryNotFoundError):
        cache = kwargs.get("cache_dir") or constants.HF_HUB_CACHE
        raise ModelNotFoundError(
            f"cannot get {filename} of {where}: the Hub is unreachable or offline mode is on "
            "(HF_HUB_OFFLINE=1 or local_files_only=True) and the file is not in the cache "
            f"({cache}); there is no local folder {repo_id!r} either"
        ) from error
    hint = "" if filename == CONFIG_NAME else " (vae-hub reads safetensors only, never .bin)"
    raise ModelNotFoundError(
        f"{where} has no {filename}: it is not a vae-hub model repo{hint}"
    ) from error


# --- decoder.onnx -------------------------------------------------------------------------


def decoder_onnx_bytes(name: str | Path, **hub_kwargs) -> bytes | None:
    """The bytes of the decoder.onnx of a model folder or Hub repo id (`hub_kwargs` as for
    `locate`: pass the revision the weights came from), for a page to hand to ONNX Runtime
    in the visitor's browser. None when there is none: a model saved before vae-hub wrote
    it, or where the exporter could not run (the page then decodes on the server).

    The file is a stranger's as much as the weights are, so it is read as a regular file of
    the folder (a link, FIFO or device: UnsafeFileError naming it) of at most
    MAX_DECODER_ONNX_BYTES, checked before it is read; vae-hub never parses or runs it.
    """
    folder = Path(name).expanduser()
    linked = False
    if folder.is_dir():
        path = folder / DECODER_ONNX
        if not os.path.lexists(path):
            return None
    elif looks_like_local_path(str(name)):
        raise ModelNotFoundError(f"no model folder at {str(name)!r}")
    else:
        revision = hub_kwargs.pop("revision", None)
        found = _download(str(name), DECODER_ONNX, revision, missing_ok=True, **hub_kwargs)
        if found is None:
            return None
        path, linked = Path(found), True  # the HF cache's snapshots link into its blobs
    limit = f"a decoder.onnx is served only up to {MAX_DECODER_ONNX_BYTES:,}"
    return read_regular_bytes(path, MAX_DECODER_ONNX_BYTES, limit=limit, follow_link=linked)


# --- config.json --------------------------------------------------------------------------


def read_config(path: Path, *, follow_link: bool = False) -> dict:
    """config.json as a dict, read strictly: a regular file (no link unless `follow_link`)
    of at most MAX_CONFIG_BYTES of UTF-8 JSON holding one object, with no duplicate keys, no
    NaN or Infinity and no absurd nesting or numbers. The values are checked by the model's
    own schema afterwards."""
    path = Path(path)
    try:
        limit = f"a vae-hub config.json is at most {MAX_CONFIG_BYTES:,} (it holds a few numbers)"
        data = read_regular_bytes(path, MAX_CONFIG_BYTES, limit=limit, follow_link=follow_link)
        config = parse_strict_json(data.decode("utf-8"))
    except UnsafeFileError as e:
        raise InvalidModelError(str(e)) from e
    except RecursionError:
        raise InvalidModelError(f"{path}: cannot read it as JSON (nested too deeply)") from None
    except UnicodeDecodeError as e:
        raise InvalidModelError(f"{path}: cannot read it as JSON (not UTF-8: {e.reason})") from e
    except (OSError, ValueError) as e:  # JSONDecodeError, and ints of thousands of digits
        raise InvalidModelError(f"{path}: cannot read it as JSON ({e})") from e
    if not isinstance(config, dict):
        raise InvalidModelError(f"{path}: expected a JSON object, got {type(config).__name__}")
    return config


def parse_strict_json(text: str) -> Any:
    """JSON text as Python values, refusing what `json.loads` lets through: duplicate keys,
    NaN and Infinity, and floats that overflow (ValueError). Too deep a nesting raises
    RecursionError, which the caller names."""
    return json.loads(
        text,
        object_pairs_hook=_unique_keys,
        parse_constant=_no_constant,
        parse_float=_finite_float,
    )


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"duplicate key(s) {', '.join(map(repr, repeated))}")
    return dict(pairs)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} overflows a float")
    return value


# --- model.safetensors --------------------------------------------------------------------


def read_header(path: Path, *, follow_link: bool = False) -> dict[str, TensorSpec]:
    """Name -> TensorSpec of every tensor in a safetensors file, from its header alone.

    The file must be regular (no link unless `follow_link`). The header's length is read
    from its first 8 bytes and refused above MAX_HEADER_BYTES before anything else is
    parsed; no tensor is read."""
    path = Path(path)
    try:
        with open_regular(path, follow_link=follow_link) as file:
            prefix = file.read(8)
            if len(prefix) < 8:
                raise InvalidModelError(f"{path}: not a readable safetensors file (truncated)")
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES:
                raise InvalidModelError(
                    f"{path}: not a readable safetensors file: its header claims {length:,} "
                    f"bytes; at most {MAX_HEADER_BYTES:,} are read"
                )
            with safe_open(reopenable_path(file, path), framework="pt") as f:
                slices = {name: f.get_slice(name) for name in f.keys()}  # noqa: SIM118
                return {
                    name: TensorSpec(tuple(s.get_shape()), s.get_dtype())
                    for name, s in slices.items()
                }
    except InvalidModelError:
        raise
    except UnsafeFileError as e:
        raise InvalidModelError(str(e)) from e
    except (SafetensorError, OSError, ValueError) as e:
        raise InvalidModelError(
            f"{path}: not a readable safetensors file (truncated or corrupt?): {e}"
        ) from e


def current_names(
    path: Path, tensors: dict[str, Any], renamed: dict[str, str] | None
) -> dict[str, Any]:
    """A file's tensors under today's names: `renamed` maps a name an earlier version wrote
    to the name it has now. A file holding both is refused, not collapsed into one."""
    if not renamed:
        return tensors
    current = {renamed.get(name, name): value for name, value in tensors.items()}
    if len(current) < len(tensors):
        both = sorted(old for old, new in renamed.items() if old in tensors and new in tensors)
        raise InvalidModelError(f"{path} holds both {_some(both)} and their current names")
    return current


def check_tensors(
    path: Path,
    expected: dict[str, TensorSpec],
    *,
    follow_link: bool = False,
    renamed: dict[str, str] | None = None,
) -> None:
    """The file at `path` holds exactly the `expected` tensors (under today's names, see
    `current_names`), with their shapes and dtypes; else one InvalidModelError listing the
    differences."""
    found = current_names(path, read_header(path, follow_link=follow_link), renamed)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [
        f"{name} {found[name].shape} != {spec.shape}"
        for name, spec in expected.items()
        if name in found and found[name].shape != spec.shape
    ]
    dtypes = [
        f"{name} is {found[name].dtype}, expected {spec.dtype}"
        for name, spec in expected.items()
        if name in found and found[name].dtype != spec.dtype
    ]
    problems = [
        f"{what}: {_some(items)}"
        for what, items in (
            ("missing tensors", missing),
            ("unexpected tensors", unexpected),
            ("shapes that do not match config.json", shapes),
            ("dtypes this model does not use", dtypes),
        )
        if items
    ]
    if problems:
        raise InvalidModelError(f"{path} does not match its config.json: " + "; ".join(problems))


def read_tensors(
    path: Path, *, follow_link: bool = False, renamed: dict[str, str] | None = None
) -> dict[str, torch.Tensor]:
    """Every tensor of a (checked) safetensors file under today's names, refusing NaN and
    infinite values."""
    try:
        with (
            open_regular(path, follow_link=follow_link) as file,
            safe_open(reopenable_path(file, path), framework="pt") as f,
        ):
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    except UnsafeFileError as e:
        raise InvalidModelError(str(e)) from e
    except (SafetensorError, OSError, ValueError) as e:
        raise InvalidModelError(
            f"{path}: not a readable safetensors file (truncated or corrupt?): {e}"
        ) from e
    bad = [
        name
        for name, tensor in tensors.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        raise InvalidModelError(f"{path}: NaN or infinite values in {_some(sorted(bad))}")
    return current_names(path, tensors, renamed)


def _some(items: list[str], limit: int = 5) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
