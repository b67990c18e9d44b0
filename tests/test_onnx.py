"""decoder.onnx: the decoder exported beside every model a user gets, run here by the real
ONNX Runtime (as a browser's onnxruntime-web runs it) and compared with the torch decoder;
where it is written, left out and never copied from a stranger's folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from vae_hub import VAE
from vae_hub.capabilities.generation import decode_images
from vae_hub.cli import main
from vae_hub.errors import UnsafeFileError
from vae_hub.files.bundled import bundled_model_path
from vae_hub.files.model_files import MAX_DECODER_ONNX_BYTES, decoder_onnx_bytes
from vae_hub.model.onnx import DECODER_ONNX, MAX_BATCH, export_decoder

from .conftest import DATA_DIR, ROOT
from .hostile_models import SECRET, _link, small_model

TOKEN = "hf_test_token_never_printed_0123456789"
TOLERANCE = 1e-4  # float32 kernels of two runtimes, summed in another order


def onnx_pixels(source: Path | bytes, z: torch.Tensor) -> np.ndarray:
    """What ONNX Runtime computes from decoder.onnx (a path or its bytes) for codes `z`."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (pixels,) = session.run(["pixels"], {"z": z.numpy()})
    return pixels


def max_difference(source: Path | bytes, model: VAE, n: int, seed: int = 0) -> float:
    """Largest difference between decoder.onnx and decode_images on `n` codes from N(0, I)."""
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))  # (n, D)
    pixels = onnx_pixels(source, z)
    assert pixels.shape == (n, 1, 28, 28) and pixels.dtype == np.float32
    return float(np.abs(pixels - decode_images(model, z).numpy()).max())


def says_nothing_of_this_machine(data: bytes) -> bool:
    """Whether an ONNX file holds none of the exporter's provenance records (stack traces
    that name the files of the machine that exported it, in a file meant to be published)."""
    return not any(
        part in data for part in (b"stack_trace", b"site-packages", b'.py"', str(ROOT).encode())
    )


def test_the_exported_decoder_computes_what_the_torch_decoder_does(trained_model, tmp_path):
    """decoder.onnx gives decode_images's pixel probabilities for a batch of 37 codes and
    for one code (the batch dimension is dynamic), as a single file with no data beside it."""
    path = export_decoder(trained_model, tmp_path / DECODER_ONNX)
    assert sorted(p.name for p in tmp_path.iterdir()) == [DECODER_ONNX]  # no .onnx.data
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (z,), (pixels,) = session.get_inputs(), session.get_outputs()
    assert (z.name, z.type, z.shape[1]) == ("z", "tensor(float)", trained_model.latent_dim)
    assert (pixels.name, pixels.shape[1:]) == ("pixels", [1, 28, 28])
    assert isinstance(z.shape[0], str) and z.shape[0] == pixels.shape[0]  # dynamic, named
    for n in (37, 1, MAX_BATCH):
        assert max_difference(path, trained_model, n) <= TOLERANCE, n
    assert says_nothing_of_this_machine(path.read_bytes())


@pytest.mark.parametrize("arch", ["mlp", "genzoo"])
def test_every_architecture_exports(arch, tmp_path):
    """The other two decoders (plain linear layers; BatchNorm, which must export in eval
    mode) export and match too, untrained."""
    torch.manual_seed(0)
    model = VAE(arch=arch, latent_dim=5, hidden_dim=16).eval()
    path = export_decoder(model, tmp_path / DECODER_ONNX)
    assert max_difference(path, model, 9) <= TOLERANCE


def test_the_bundled_models_decoder_onnx_matches_its_weights():
    folder = bundled_model_path()
    model = VAE.from_pretrained(folder)
    assert max_difference(folder / DECODER_ONNX, model, 64) <= TOLERANCE
    assert says_nothing_of_this_machine((folder / DECODER_ONNX).read_bytes())
    assert "`decoder.onnx`" in (folder / "README.md").read_text(encoding="utf-8")


def test_training_writes_it_into_final_and_not_into_checkpoints(trained_model_dir):
    """The end of training writes decoder.onnx into final/ (listed on its card); the
    checkpoints, written every few epochs to be resumed, do not pay for an export."""
    assert (trained_model_dir / DECODER_ONNX).is_file()
    assert "`decoder.onnx`" in (trained_model_dir / "README.md").read_text(encoding="utf-8")
    checkpoints = [p for p in trained_model_dir.parent.glob("epoch-*") if p.is_dir()]
    assert checkpoints and not any((p / DECODER_ONNX).exists() for p in checkpoints)


def test_save_pretrained_writes_it_and_never_leaves_a_stale_one(tmp_path):
    """save_pretrained exports it and the card shows the JavaScript snippet; with
    decoder_onnx=False a decoder.onnx already there (another model's) is removed, not left
    to disagree with the new weights, and the card does not mention it."""
    model = small_model()
    model.save_pretrained(tmp_path / "m")
    card = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    assert 'ort.InferenceSession.create("decoder.onnx")' in card
    assert 'new ort.Tensor("float32", z, [n, D])' in card and "D = 6" in card
    assert max_difference(tmp_path / "m" / DECODER_ONNX, model, 37) <= TOLERANCE
    (tmp_path / "m" / "README.md").unlink()
    model.save_pretrained(tmp_path / "m", decoder_onnx=False)
    assert not (tmp_path / "m" / DECODER_ONNX).exists()
    assert "decoder.onnx" not in (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    assert VAE.from_pretrained(tmp_path / "m").latent_dim == 6


def test_a_link_in_its_place_is_replaced_not_followed(tmp_path):
    """A decoder.onnx that is a link to a file elsewhere: saving replaces the link itself
    and never writes through it."""
    folder = tmp_path / "m"
    small_model().save_pretrained(folder, decoder_onnx=False)
    _link(DECODER_ONNX)(folder)
    small_model().save_pretrained(folder)
    assert not (folder / DECODER_ONNX).is_symlink() and (folder / DECODER_ONNX).is_file()
    assert (tmp_path / "m-secret.txt").read_text() == SECRET


def test_without_the_exporter_the_model_is_saved_and_one_line_says_so(tmp_path):
    """Where onnxscript cannot be imported (an environment without it), save_pretrained
    still writes a complete model folder, without decoder.onnx, its card silent about it,
    and says so in one line."""
    folder = tmp_path / "m"
    code = (
        "import sys; sys.modules['onnxscript'] = None\n"
        "from vae_hub import VAE\n"
        f"VAE(latent_dim=6, channels=4, hidden_dim=16).save_pretrained({str(folder)!r})\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"note: {DECODER_ONNX} left out of"), lines
    assert "onnx and onnxscript" in lines[0]
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    assert "decoder.onnx" not in (folder / "README.md").read_text(encoding="utf-8")
    assert VAE.from_pretrained(folder).latent_dim == 6


def test_push_exports_it_again_and_never_uploads_the_folders_own(hub, tmp_path, capsys):
    """vae-hub push uploads a decoder.onnx exported from the weights that loaded: a folder
    whose decoder.onnx is a link to a secret is pushed without it ever being read, and the
    uploaded file decodes what the weights do."""
    folder = tmp_path / "m"
    model = small_model()
    model.save_pretrained(folder, decoder_onnx=False)
    _link(DECODER_ONNX)(folder)
    assert main(["push", str(folder), "tester/onnx-push", "--hub-token", TOKEN]) == 0, (
        capsys.readouterr().err
    )
    files = hub.files("tester/onnx-push")
    assert SECRET.encode() not in files[DECODER_ONNX]
    assert max_difference(files[DECODER_ONNX], model, 37) <= TOLERANCE
    assert 'ort.InferenceSession.create("decoder.onnx")' in files["README.md"].decode()
    assert (folder / DECODER_ONNX).is_symlink()  # the local folder is left as it was


def test_a_space_gets_a_decoder_exported_from_the_weights(tmp_path, capsys):
    """vae-hub space with a local model folder writes model/decoder.onnx exported from its
    weights, not a copy of the folder's (here a link to a secret)."""
    folder = tmp_path / "m"
    model = small_model()
    model.save_pretrained(folder, decoder_onnx=False)
    _link(DECODER_ONNX)(folder)
    out = tmp_path / "space"
    assert main(["space", str(out), "--model", str(folder)]) == 0, capsys.readouterr().err
    exported = out / "model" / DECODER_ONNX
    assert exported.is_file() and not exported.is_symlink()
    assert SECRET.encode() not in exported.read_bytes()
    assert max_difference(exported, model, 37) <= TOLERANCE


def test_decoder_onnx_bytes_serves_a_regular_file_or_nothing(tmp_path):
    """What a page may serve: the bytes of a folder's decoder.onnx; None for a model saved
    before it existed (tests/data/saved-by-0.1.0, which still loads); a link, a FIFO or an
    oversized file refused by name before it is read."""
    assert (
        decoder_onnx_bytes(bundled_model_path())
        == (bundled_model_path() / DECODER_ONNX).read_bytes()
    )
    old = DATA_DIR / "saved-by-0.1.0"
    assert decoder_onnx_bytes(old) is None and VAE.from_pretrained(old).latent_dim > 0
    linked = tmp_path / "linked"
    small_model().save_pretrained(linked, decoder_onnx=False)
    _link(DECODER_ONNX)(linked)
    with pytest.raises(UnsafeFileError, match=r"decoder\.onnx is a symbolic link"):
        decoder_onnx_bytes(linked)
    fifo = tmp_path / "fifo"
    shutil.copytree(linked, fifo, symlinks=True)
    (fifo / DECODER_ONNX).unlink()
    os.mkfifo(fifo / DECODER_ONNX)
    with pytest.raises(UnsafeFileError, match=r"decoder\.onnx is a named pipe"):
        decoder_onnx_bytes(fifo)
    huge = tmp_path / "huge"
    shutil.copytree(fifo, huge, ignore=shutil.ignore_patterns(DECODER_ONNX))
    with open(huge / DECODER_ONNX, "wb") as f:
        f.truncate(MAX_DECODER_ONNX_BYTES + 1)  # sparse: it takes no room
    with pytest.raises(UnsafeFileError, match=r"decoder\.onnx is 67,108,865 bytes"):
        decoder_onnx_bytes(huge)


def test_decoder_onnx_bytes_of_a_hub_repo(hub, tmp_path):
    """From a Hub repo: its decoder.onnx through the HF cache, None for a repo without."""
    with_it = {p.name: p.read_bytes() for p in bundled_model_path().iterdir() if p.is_file()}
    without = {k: v for k, v in with_it.items() if k != DECODER_ONNX}
    hub.add_repo("tester/with-onnx", with_it)
    hub.add_repo("tester/without-onnx", without)
    cache = tmp_path / "cache"
    got = decoder_onnx_bytes("tester/with-onnx", cache_dir=cache)
    assert got == with_it[DECODER_ONNX]
    assert decoder_onnx_bytes("tester/without-onnx", cache_dir=cache) is None
