"""Publishing and loading through the real huggingface_hub client, over HTTP, against the
local Hub stand-in (tests/hub_stand_in/): push, from_pretrained, Spaces, and failures."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from vae_hub import VAE, InvalidModelError, ModelNotFoundError
from vae_hub.cli import main
from vae_hub.cli.train import main as train_main

from .conftest import ROOT, TINY_FLAGS

TOKEN = "hf_test_token_never_printed_0123456789"
RUN_FLAGS = [  # a one-epoch run of the tiny model, evaluated
    *TINY_FLAGS, "--batch-size", "64", "--epochs", "1", "--latent-map-points", "40",
    "--eval", "smoke",
]  # fmt: skip


def front_matter(text: str) -> dict:
    return yaml.safe_load(text.split("---")[1])


@pytest.fixture
def pushed(hub, tmp_path, capsys):
    """train.py --push: a tiny run published to tester/tiny-vae."""
    code = train_main(
        [
            *RUN_FLAGS,
            "--output-dir",
            str(tmp_path / "exp"),
            "--exp-name",
            "t",
            "--push",
            "tester/tiny-vae",
            "--hub-token",
            TOKEN,
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    return tmp_path / "exp" / "t", out


def test_train_push_then_from_pretrained_in_a_fresh_cache(pushed, hub, tmp_path):
    run_dir, out = pushed
    assert f"{hub.url}/tester/tiny-vae" in out.out
    files = hub.files("tester/tiny-vae")
    for name in (
        "config.json",
        "model.safetensors",
        "README.md",
        "metrics.json",
        "samples.png",
        "digit_transit.png",
        "latent_map.png",
        "loss_curves.png",
    ):
        assert name in files, name
    assert "training_state.safetensors" not in files
    local = VAE.from_pretrained(run_dir / "checkpoints" / "final")
    remote = VAE.from_pretrained("tester/tiny-vae", cache_dir=tmp_path / "fresh-cache")
    x = torch.rand(3, 1, 28, 28)
    for a, b in zip(local(x), remote(x), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(local.prior.class_means, remote.prior.class_means)
    assert any((tmp_path / "fresh-cache").rglob("model.safetensors"))


def test_the_card_on_the_hub_parses_and_its_snippet_runs(pushed, hub, tmp_path):
    card = hub.files("tester/tiny-vae")["README.md"].decode()
    meta = front_matter(card)
    assert meta["library_name"] == "vae-hub" and meta["license"] == "mit"
    assert meta["datasets"] == ["mnist"]
    assert meta["pipeline_tag"] == "unconditional-image-generation"
    assert {"vae", "mnist"} <= set(meta["tags"])
    results = meta["model-index"][0]["results"][0]
    assert results["dataset"]["type"] == "mnist"
    assert {m["type"] for m in results["metrics"]} >= {"negative-elbo", "nll", "accuracy"}
    assert "More Information Needed" not in card
    assert '"tester/tiny-vae"' in card and "(samples.png)" in card and "python train.py" in card
    snippet = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    proc = subprocess.run(
        [sys.executable, "-c", snippet],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HOME": str(tmp_path / "h")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "torch.Size([16, 1, 28, 28]) torch.Size([8, 1, 28, 28])" in proc.stdout


def test_the_token_is_never_written_or_printed(pushed, hub):
    run_dir, out = pushed
    assert TOKEN not in out.out + out.err
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    for content in hub.files("tester/tiny-vae").values():
        assert TOKEN.encode() not in content
    assert TOKEN in hub.tokens_seen  # it did authenticate the upload


def test_revision_offline_mode_and_local_files_only(pushed, hub, tmp_path):
    cache = tmp_path / "cache"
    head = hub.commits("tester/tiny-vae")[-1]
    model = VAE.from_pretrained("tester/tiny-vae", revision=head, cache_dir=tmp_path / "c2")
    assert model.latent_dim == 4
    VAE.from_pretrained("tester/tiny-vae", cache_dir=cache)  # main, cached for offline use
    with pytest.raises(ModelNotFoundError, match="no revision"):
        VAE.from_pretrained("tester/tiny-vae", revision="0" * 40, cache_dir=cache)
    with pytest.raises(ModelNotFoundError, match="not in the cache"):
        VAE.from_pretrained("tester/tiny-vae", local_files_only=True, cache_dir=tmp_path / "empty")
    hub.stop()  # the Hub is gone; the cached copy still loads, offline
    code = (
        "from vae_hub import VAE; "
        f"print(VAE.from_pretrained('tester/tiny-vae', cache_dir={str(cache)!r}).latent_dim)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "4", proc.stderr


def test_a_missing_repo_is_one_clear_error(hub, tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model repo 'tester/nothing'"):
        VAE.from_pretrained("tester/nothing", cache_dir=tmp_path)
    with pytest.raises(ModelNotFoundError, match="neither a model folder nor a valid Hub repo id"):
        VAE.from_pretrained("bad repo!", cache_dir=tmp_path)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"model_type": "bert", "hidden_size": 768}, "not a vae-hub VAE config"),
        ({"latent_dim": "20"}, "'latent_dim' must be int"),
        ({"latent_dim": 4, "channels": 4, "hidden_dim": 32, "extra": 1}, "unknown config field"),
    ],
)
def test_foreign_or_malformed_repos_are_refused(hub, tmp_path, config, message):
    weights = tmp_path / "w.safetensors"
    save_file({"x": torch.zeros(1)}, str(weights))
    hub.add_repo(
        "tester/foreign",
        {"config.json": json.dumps(config).encode(), "model.safetensors": weights.read_bytes()},
    )
    with pytest.raises(InvalidModelError, match=message):
        VAE.from_pretrained("tester/foreign", cache_dir=tmp_path / "c")


def test_weights_that_do_not_match_the_config_are_refused(hub, tmp_path):
    model = VAE(latent_dim=4, channels=4, hidden_dim=32, latent_map_points=0)
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["latent_dim"] = 5
    hub.add_repo(
        "tester/mismatch",
        {
            "config.json": json.dumps(config).encode(),
            "model.safetensors": (tmp_path / "m" / "model.safetensors").read_bytes(),
        },
    )
    with pytest.raises(InvalidModelError, match="does not match its config.json"):
        VAE.from_pretrained("tester/mismatch", cache_dir=tmp_path / "c")
    hub.add_repo("tester/no-weights", {"config.json": json.dumps(config).encode()})
    with pytest.raises(ModelNotFoundError, match="has no model.safetensors"):
        VAE.from_pretrained("tester/no-weights", cache_dir=tmp_path / "c")


# --- failures while publishing ---------------------------------------------------------------


@pytest.fixture
def model_dir(trained_model_dir):
    return trained_model_dir


def _push(folder, repo, *extra, capsys):
    code = main(["push", str(folder), repo, "--hub-token", TOKEN, *extra])
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err
    return code, out


def _assert_intact(folder):
    assert VAE.from_pretrained(folder).prior.can_draw_digits
    assert (folder / "README.md").is_file()


@pytest.mark.parametrize(
    "status, cause",
    [(401, "rejected the token"), (403, "may not write"), (404, "not found"), (500, "HTTP 500")],
)
def test_push_failures_name_the_cause_and_the_retry_command(hub, model_dir, capsys, status, cause):
    hub.fail("create", status)
    code, out = _push(model_dir, "tester/fails", capsys=capsys)
    assert code == 2
    assert cause in out.err and f"retry with: vae-hub push {model_dir} tester/fails" in out.err
    assert out.err.count("\n") == 1  # one line, no traceback
    _assert_intact(model_dir)


def test_upload_failure_after_the_repo_exists(hub, model_dir, capsys):
    hub.fail("commit", 500)
    code, out = _push(model_dir, "tester/half", capsys=capsys)
    assert code == 2 and "HTTP 500" in out.err
    assert "model.safetensors" not in hub.files("tester/half")  # nothing half-uploaded
    _assert_intact(model_dir)
    hub.clear_failures()
    code, out = _push(model_dir, "tester/half", capsys=capsys)  # the printed retry works
    assert code == 0 and "model.safetensors" in hub.files("tester/half")


def test_unreachable_hub(hub, model_dir, capsys):
    hub.stop()
    code, out = _push(model_dir, "tester/gone", capsys=capsys)
    assert code == 2 and "cannot reach the Hub" in out.err and hub.url in out.err
    _assert_intact(model_dir)


def test_invalid_repo_id(hub, model_dir, capsys):
    code, out = _push(model_dir, "not a/valid/repo", capsys=capsys)
    assert code == 2 and "not a valid Hub repo id" in out.err
    assert hub.requests == []


@pytest.mark.parametrize("repo_type", ["model", "space"])
def test_push_without_a_token_says_not_logged_in(hub, model_dir, capsys, monkeypatch, repo_type):
    """The same credentials check as train.py --push, before any request to the Hub."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    code = main(["push", str(model_dir), "tester/anon", "--repo-type", repo_type])
    err = capsys.readouterr().err
    assert code == 2 and "not logged in" in err and "HF_TOKEN" in err
    assert hub.requests == []


def test_credentials_are_checked_before_training(hub, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    started = time.monotonic()
    code = train_main([*RUN_FLAGS, "--output-dir", str(tmp_path), "--push", "tester/x"])
    out = capsys.readouterr()
    assert code == 2 and "not logged in" in out.err and "HF_TOKEN" in out.err
    assert not (tmp_path / "mnist").exists() and time.monotonic() - started < 30
    hub.valid_tokens = {"the-right-one"}
    code = train_main(
        [*RUN_FLAGS, "--output-dir", str(tmp_path), "--push", "tester/x", "--hub-token", TOKEN]
    )
    out = capsys.readouterr()
    assert code == 2 and "rejected the token" in out.err and TOKEN not in out.err
    assert not (tmp_path / "mnist").exists()


def test_hf_token_environment_variable_is_used(hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.valid_tokens = {TOKEN}
    code = train_main(
        [*RUN_FLAGS, "--output-dir", str(tmp_path), "--push", "tester/env", "--private"]
    )
    assert code == 0, capsys.readouterr().err
    assert hub.repo("tester/env").private


def test_a_push_failing_after_training_keeps_the_model(hub, tmp_path, capsys):
    hub.fail("commit", 500)
    flags = ["--output-dir", str(tmp_path), "--push", "tester/late", "--private"]
    code = train_main([*RUN_FLAGS, *flags, "--hub-token", TOKEN])
    err = capsys.readouterr().err
    final = tmp_path / "mnist" / "checkpoints" / "final"
    assert code == 2 and f"retry with: vae-hub push {final} tester/late --private" in err
    _assert_intact(final)


def _retry(err: str) -> list[str]:
    """The arguments (after `vae-hub`) of the push command an error line suggests."""
    return shlex.split(err.split("retry with: ", 1)[1])[1:]


def test_the_retry_of_a_private_push_stays_private(hub, model_dir, tmp_path, capsys):
    """Following the printed retry must never publish what was meant to be private."""
    hub.fail("commit", 500)
    code, out = _push(model_dir, "tester/secret", "--private", capsys=capsys)
    assert code == 2 and _retry(out.err) == ["push", str(model_dir), "tester/secret", "--private"]
    hub.clear_failures()
    assert main([*_retry(out.err), "--hub-token", TOKEN]) == 0
    assert hub.repo("tester/secret").private
    space = tmp_path / "space"
    assert main(["space", str(space), "--model", str(model_dir)]) == 0
    hub.fail("commit", 500)
    code, out = _push(space, "tester/demo", "--repo-type", "space", "--private", capsys=capsys)
    assert code == 2
    retry = ["push", str(space), "tester/demo", "--repo-type", "space", "--private"]
    assert _retry(out.err) == retry
    assert TOKEN not in out.err


def test_an_empty_push_repo_is_an_error_before_training(hub, tmp_path, capsys):
    code = train_main([*RUN_FLAGS, "--output-dir", str(tmp_path), "--push", ""])
    err = capsys.readouterr().err
    assert code == 2 and "push cannot be empty" in err
    assert not (tmp_path / "mnist").exists() and hub.requests == []


def test_train_py_help_documents_push_options():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    for flag in ("--push", "--private", "--hub-token"):
        assert flag in proc.stdout


def table_rows(markdown: str) -> list[list[list[str]]]:
    """Each Markdown table of `markdown` as its rows of cells, cells split where GitHub
    splits them: at every | not escaped by a backslash (inside code spans too)."""
    tables, current = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            current.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif current:
            tables.append(current)
            current = []
    return tables


def test_every_table_row_of_a_rendered_card_has_its_headers_cells(trained_model_dir):
    """A | inside a cell (the amortisation gap's q(z|x)) must not split its row: the row
    would gain a cell and its value would vanish from the rendered table."""
    from vae_hub import BUNDLED
    from vae_hub.hub.export import model_card_for

    cards = {
        "bundled": (Path(BUNDLED) / "README.md").read_text(encoding="utf-8"),
        "re-rendered": model_card_for(Path(BUNDLED), "someone/model"),
        "tiny": (trained_model_dir / "README.md").read_text(encoding="utf-8"),
    }
    assert "refining q(z\\|x)" in cards["re-rendered"]  # the row that used to break
    for name, card in cards.items():
        tables = table_rows(card)
        assert len(tables) >= 3, name
        for rows in tables:
            assert all(len(row) == len(rows[0]) for row in rows), (name, rows)


def test_the_table_check_sees_a_split_row():
    rows = table_rows("| a | b |\n| --- | --- |\n| q(z|x) | 1.06 |\n")[0]
    assert [len(row) for row in rows] == [2, 2, 3]
