"""A run's records as the model card reads them: training.json and metrics.json.

Both may come with a stranger's folder, so each is read as a regular file of the folder
(`regular_files`), sized before it is parsed, and checked for the keys and types the card
uses (MODEL_CARD.md, `card.metric_rows`, `report.metric_label`). A wrong record is one
InvalidModelError naming the file and the field, never an AttributeError or a Jinja
TypeError from deep inside the rendering. Keys the card does not use are left alone.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InvalidModelError, UnsafeFileError
from ..evaluation.report import METRICS
from ..files.regular_files import read_regular_bytes

TRAINING_NAME = "training.json"
METRICS_NAME = "metrics.json"
# A record is a few KB; a long run's per-epoch history stays well under a megabyte.
MAX_RECORD_BYTES = 16 * 1024 * 1024

NUMBER, WHOLE, TEXT, OBJECT, LIST = "a number", "a whole number", "a string", "an object", "a list"
METRICS_FIELDS = {
    **{key: NUMBER for key in METRICS},
    "active_units": WHOLE,
    "iwae_k": WHOLE,
    "iwae_images": WHOLE,
    "iwae_se": NUMBER,
    "iwae_refine_steps": WHOLE,
    "iwae_estimate": TEXT,
    "split_size": WHOLE,
    "digit_temperature": NUMBER,
    "amortisation_gap_images": WHOLE,
    "amortisation_gap_steps": WHOLE,
    "command": TEXT,
    "profile": TEXT,
    "fd_samples": WHOLE,
    "digit_samples_per_class": WHOLE,
}
# what the card states when metrics.json names no command (measured at the end of training)
METRICS_WITHOUT_COMMAND = (
    "profile",
    "iwae_k",
    "iwae_images",
    "fd_samples",
    "digit_samples_per_class",
)
TRAINING_FIELDS = {
    "command": TEXT,
    "config": OBJECT,
    "device": TEXT,
    "torch": TEXT,
    "epochs": WHOLE,
    "steps": WHOLE,
    "train_seconds": NUMBER,
    "train_size": WHOLE,
    "history": LIST,
}
TRAINING_CONFIG_FIELDS = {
    "lr": NUMBER,
    "lr_schedule": TEXT,
    "batch_size": WHOLE,
    "seed": WHOLE,
    "weight_decay": NUMBER,
    "kl_warmup_epochs": NUMBER,
    "augment_shift": WHOLE,
    "augment_share": NUMBER,
    "ema_decay": NUMBER,
    "init_from": TEXT,
}
LOSS_PARTS = ("total", "reconstruction", "kl")


def read_record(folder: Path, name: str) -> dict | None:
    """`folder`/`name` (training.json or metrics.json) as a checked dict; None if absent."""
    path = Path(folder) / name
    try:
        data = read_regular_bytes(path, MAX_RECORD_BYTES)
    except FileNotFoundError:
        return None
    except UnsafeFileError as e:
        raise InvalidModelError(str(e)) from e
    except OSError as e:
        raise InvalidModelError(f"{path}: cannot read it ({e})") from e
    try:
        record = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise InvalidModelError(f"{path}: cannot read it as JSON (nested too deeply)") from None
    except UnicodeDecodeError as e:
        raise InvalidModelError(f"{path}: cannot read it as JSON (not UTF-8: {e.reason})") from e
    except ValueError as e:
        raise InvalidModelError(f"{path}: cannot read it as JSON ({e})") from e
    check = check_training if name == TRAINING_NAME else check_metrics
    check(record, str(path))
    return record


def check_metrics(metrics: object, where: str = METRICS_NAME) -> None:
    """metrics.json holds what the card's evaluation section formats, with the right types."""
    _check_object(metrics, "", where)
    _check_fields(metrics, METRICS_FIELDS, where)
    needed = [] if metrics.get("command") is not None else list(METRICS_WITHOUT_COMMAND)
    if metrics.get("amortisation_gap") is not None and metrics.get("amortisation_gap_steps"):
        needed.append("amortisation_gap_images")
    _check_present(metrics, needed, METRICS_FIELDS, where)


def check_training(training: object, where: str = TRAINING_NAME) -> None:
    """training.json holds what the card's training section and loss curves use."""
    _check_object(training, "", where)
    _check_fields(training, TRAINING_FIELDS, where)
    _check_present(training, ["config", "steps", "train_seconds"], TRAINING_FIELDS, where)
    config = training["config"]
    _check_fields(config, TRAINING_CONFIG_FIELDS, where, "config.")
    if config.get("augment_shift"):
        _check_present(config, ["augment_share"], TRAINING_CONFIG_FIELDS, where, "config.")
    for i, entry in enumerate(training.get("history") or []):
        _check_object(entry, f"history[{i}]", where)
        if entry.get("partial"):
            continue  # not drawn
        _check_present(entry, ["epoch"], {"epoch": NUMBER}, where, f"history[{i}].")
        for split in ("train", "test"):
            _check_present(entry, [split], {split: OBJECT}, where, f"history[{i}].")
            fields = dict.fromkeys(LOSS_PARTS, NUMBER)
            _check_present(entry[split], LOSS_PARTS, fields, where, f"history[{i}].{split}.")


def _check_object(value: object, name: str, where: str) -> None:
    if not isinstance(value, dict):
        what = f"'{name}' must be an object" if name else "expected a JSON object"
        raise InvalidModelError(f"{where}: {what}, got {_type_name(value)}")


def _check_fields(record: dict, fields: dict[str, str], where: str, prefix: str = "") -> None:
    """Each field of `fields` that `record` holds (and is not null) has its kind."""
    for key, kind in fields.items():
        value = record.get(key)
        if value is not None and not _is(value, kind):
            raise InvalidModelError(
                f"{where}: '{prefix}{key}' must be {kind}, got {_type_name(value)} {_short(value)}"
            )


def _check_present(
    record: dict, keys, fields: dict[str, str], where: str, prefix: str = ""
) -> None:
    """Each of `keys` is in `record`, not null, and of its kind in `fields`."""
    for key in keys:
        if record.get(key) is None:
            raise InvalidModelError(
                f"{where}: '{prefix}{key}' is missing or null; the card needs it ({fields[key]})"
            )
    _check_fields(record, {key: fields[key] for key in keys}, where, prefix)


def _is(value: object, kind: str) -> bool:
    if kind == TEXT:
        return isinstance(value, str)
    if kind == OBJECT:
        return isinstance(value, dict)
    if kind == LIST:
        return isinstance(value, list)
    if isinstance(value, bool):  # JSON true is not the number 1
        return False
    return isinstance(value, int) if kind == WHOLE else isinstance(value, (int, float))


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number"}
    return names.get(type(value), "a number" if isinstance(value, float) else "null")


def _short(value: object) -> str:
    text = json.dumps(value)
    return f"({text[:40]}...)" if len(text) > 40 else f"({text})"
