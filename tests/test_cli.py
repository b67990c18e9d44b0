"""The `vae-hub` command: generate grids from a model folder, with clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from PIL import Image

from vae_hub.cli import SUBCOMMANDS, build_parser, main
from vae_hub.cli.loadtest import free_port, startup_seconds


def test_generate_writes_the_three_grids(trained_model_dir, tmp_path, capsys):
    out = tmp_path / "grids"
    code = main(
        [
            "generate",
            "--model",
            str(trained_model_dir),
            "--grid-size",
            "3",
            "--digit",
            "4",
            "--grid-size2",
            "2",
            "--transit",
            "1",
            "7",
            "--transit-size",
            "4",
            "--save-path",
            str(out),
        ]
    )
    assert code == 0
    sizes = {}
    for path in out.iterdir():
        with Image.open(path) as picture:
            sizes[path.name] = picture.size
    # torchvision grids: n images of 28 px with 2 px padding around each
    assert sizes == {
        "generated_image.png": (3 * 30 + 2, 3 * 30 + 2),
        "digit_transit.png": (4 * 30 + 2, 4 * 30 + 2),
        "digit_4.png": (2 * 30 + 2, 2 * 30 + 2),
    }
    assert "wrote" in capsys.readouterr().out


def test_generate_is_repeatable_with_a_seed(trained_model_dir, tmp_path):
    for name in ("a", "b"):
        assert (
            main(
                [
                    "generate",
                    "--model",
                    str(trained_model_dir),
                    "--seed",
                    "3",
                    "--save-path",
                    str(tmp_path / name),
                ]
            )
            == 0
        )
    assert (tmp_path / "a" / "generated_image.png").read_bytes() == (
        tmp_path / "b" / "generated_image.png"
    ).read_bytes()


def test_generate_errors_are_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vae_hub.cli", "generate", "--model", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no model folder") and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "--iwae-k", "-5"], "argument --iwae-k: must be at least 1, got -5"),
        (["evaluate", "--iwae-images", "many"], "--iwae-images: expected a whole number, got"),
        (["evaluate", "--refine-steps", "-1"], "--refine-steps: must be at least 0, got -1"),
        (["bench", "--minutes", "0"], "argument --minutes: must be above 0, got 0.0"),
        (["bench", "--fd-samples", "1"], "--fd-samples: must be at least 2, got 1"),
        (["loadtest", "--clients", "0"], "argument --clients: must be at least 1, got 0"),
        (["generate", "--grid-size", "0"], "argument --grid-size: must be at least 1, got 0"),
        (["generate", "--transit-size", "65"], "--transit-size: must be at most 64, got 65"),
        (["train-judge", "--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
    ],
)
def test_bad_counts_are_one_line_errors(argv, message, capsys):
    """A count the command cannot use is refused before any work, in one line naming the
    option, instead of a traceback from inside the metric."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["evaluate", "temperature", "speed"])
@pytest.mark.parametrize(
    "device, message",
    [("cuda", "--device cuda: no CUDA device here"), ("tpu", "--device 'tpu' is not a device")],
)
def test_a_device_this_machine_lacks_is_a_one_line_error(command, device, message, capsys):
    """--device is checked before the model or the data is read."""
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main([command, "--device", device]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_generate_rejects_a_bad_digit(trained_model_dir, tmp_path, capsys):
    code = main(
        [
            "generate",
            "--model",
            str(trained_model_dir),
            "--digit",
            "12",
            "--save-path",
            str(tmp_path),
        ]
    )
    assert code == 2 and "digit must be an integer 0-9" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_option_states_its_default_once(command):
    """--help appends each default, unless the help words it already ("default: the bundled
    model"), which would otherwise be followed by a second, misleading "(default: None)"."""
    sub = build_parser(command)._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        line = " ".join(sub._get_formatter()._expand_help(action).split()) if action.help else ""
        assert line.count("(default:") <= 1, (command, action.dest, line)
        assert "(default: none)" not in line.lower(), (command, action.dest, line)


def test_vae_hub_train_is_train_py():
    proc = subprocess.run(
        [sys.executable, "-m", "vae_hub.cli", "train", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "usage: vae-hub train" in proc.stdout


def test_card_command_rerenders_with_new_metrics(trained_model_dir, tmp_path):
    import json
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(trained_model_dir, folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics.update(negative_elbo=12.3456, command="vae-hub evaluate m --profile full")
    (folder / "metrics.json").write_text(json.dumps(metrics))
    assert main(["card", str(folder), "--model-id", "someone/model"]) == 0
    card = (folder / "README.md").read_text()
    assert "12.35" in card and 'VAE.from_pretrained("someone/model")' in card
    assert "Measured with `vae-hub evaluate m --profile full`" in card
    (folder / "samples.png").unlink()
    before = (folder / "digits.png").read_bytes()
    (folder / "digits.png").write_bytes(b"stale")
    assert main(["card", str(folder), "--pictures"]) == 0
    assert (folder / "digits.png").read_bytes() == before  # the same model draws the same
    with Image.open(folder / "samples.png") as samples:
        assert samples.size[0] > 28
    assert "![64 digits sampled from the prior](samples.png)" in (folder / "README.md").read_text()


def test_startup_timing_waits_for_the_page_and_kills_the_server():
    """`vae-hub loadtest --startup` measures a command until it exits, or until a page on its
    port answers (here a plain HTTP server); the server is stopped afterwards."""
    assert startup_seconds([sys.executable, "-c", "pass"]) > 0
    port = free_port()
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    assert startup_seconds(server, port) > 0
    assert startup_seconds(server, port) > 0  # the port is free again: the first one was killed


@pytest.mark.parametrize(
    "argv",
    [
        ["train.py", "--epoch", "3"],  # --epochs
        ["-m", "vae_hub.cli", "evaluate", "--prof", "full"],  # --profile
        ["-m", "vae_hub.cli", "generate", "--grid", "3"],  # --grid-size
        ["app.py", "--mod", "nosuch"],  # --model
    ],
    ids=["train.py", "evaluate", "generate", "app.py"],
)
def test_abbreviated_flags_are_refused(argv):
    """A prefix of a flag is a typo, not that flag: argparse's default would take
    `--epoch 3` as `--epochs 3` without a word."""
    from .conftest import ROOT

    script = [str(ROOT / argv[0]), *argv[1:]] if argv[0].endswith(".py") else argv
    proc = subprocess.run(
        [sys.executable, *script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 2, proc.stderr
    assert "unrecognized arguments" in proc.stderr and "Traceback" not in proc.stderr


def test_evaluate_defaults_to_the_quick_profile():
    """The full profile takes hours on a laptop's CPU: it is asked for, never the default."""
    args = build_parser("evaluate").parse_args(["evaluate"])
    assert args.profile == "quick"


def test_ctrl_c_during_evaluate_is_one_line_and_exit_130():
    """A full evaluation says what it will compute and how long that should take, then
    Ctrl-C (a real SIGINT to a real process) stops it with one line, not a traceback."""
    import signal

    from .conftest import DATA_DIR

    command = [sys.executable, "-m", "vae_hub.cli", "evaluate", "--data-dir", str(DATA_DIR),
               "--profile", "full"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said = [proc.stdout.readline() for _ in range(2)]
        assert said[0].startswith("This evaluation computes") and "IWAE" in said[0], said
        assert said[1].startswith("Estimated time here: about"), said
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    # the last line on the terminal: the progress bar was cleared, not left beside it
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert lines[-1] == "interrupted (Ctrl-C)" and "Traceback" not in err, err


def test_a_typo_in_a_local_path_is_reported_at_once(hub, monkeypatch, capsys):
    """`vae_hub/pretrainde` can only mean a folder (its parent exists here): one line, and
    no request reaches the Hub, where it would wait for a network and blame it."""
    from .conftest import ROOT

    monkeypatch.chdir(ROOT)
    assert main(["generate", "--model", "vae_hub/pretrainde"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: no model folder at 'vae_hub/pretrainde'"
    assert hub.requests == []


def test_a_name_that_is_neither_a_folder_nor_a_repo_says_both(hub, monkeypatch, capsys):
    """A name that may be a repo id is tried on the Hub; when that fails, the message also
    says that no local folder of that name exists."""
    assert main(["generate", "--model", "nosuch/folder"]) == 2
    err = capsys.readouterr().err
    assert "no model repo 'nosuch/folder'" in err and "no local folder 'nosuch/folder'" in err
    hub.stop()
    assert main(["generate", "--model", "nosuch/folder"]) == 2
    err = capsys.readouterr().err
    assert "unreachable" in err and "no local folder 'nosuch/folder' either" in err
