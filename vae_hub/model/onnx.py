"""The decoder as one ONNX file, `decoder.onnx`, so a browser (ONNX Runtime Web) can turn
latent codes into digits without asking the server.

The file maps `z` (N, latent_dim) float32, N dynamic, to `pixels` (N, 1, 28, 28): the
Bernoulli means that `capabilities.generation.decode_images` returns for those codes. It is
self-contained (the weights inside, no `.onnx.data` beside it), so it can be served or
uploaded as one file.

Exporting needs the `onnx` and `onnxscript` packages (torch's exporter imports them). Where
they are missing, the model is still saved, without decoder.onnx: `export_decoder` raises
`DecoderExportUnavailable` and the callers that write a folder say so in one line. The file
is only ever written here, from weights that loaded; nothing in vae-hub reads one back to run
it (the bytes may be served to a browser, `files.model_files.decoder_onnx_bytes`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from ..files.atomic import atomic_path
from ..files.model_files import DECODER_ONNX

__all__ = ["DECODER_ONNX", "DecoderExportUnavailable", "export_decoder", "write_decoder"]
INPUT_NAME = "z"
OUTPUT_NAME = "pixels"
# The batch dimension is dynamic up to this many codes (a page decodes a grid or a strip).
MAX_BATCH = 1024
OPSET = 18


class DecoderExportUnavailable(RuntimeError):
    """The decoder cannot be exported here (the exporter's packages are missing or fail);
    the model itself is unaffected."""


class PixelDecoder(nn.Module):
    """A CPU float32 copy of a model's decoder with the sigmoid on top: z (N, D) -> pixel
    probabilities (N, 1, 28, 28), the function decode_images computes."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = copy.deepcopy(decoder).cpu().float().eval()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))  # (N, D) -> (N, 1, 28, 28)


def export_decoder(model: nn.Module, path: str | Path) -> Path:
    """Write `model`'s decoder to `path` as one self-contained ONNX file, atomically.

    `model` is a VAE (its `decoder` and `latent_dim` are used). The exporter's progress
    lines and warnings are kept out of the output: commands print their own lines.
    DecoderExportUnavailable when the exporter cannot run here.
    """
    path = Path(path)
    module = PixelDecoder(model.decoder)
    z = torch.zeros(2, model.latent_dim)  # (N, D): an example batch for tracing
    batch = torch.export.Dim("n", min=1, max=MAX_BATCH)
    try:
        with quiet_exporter():
            program = torch.onnx.export(
                module,
                (z,),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=OPSET,
                dynamo=True,
                dynamic_shapes={"z": {0: batch}},
                verbose=False,
            )
    except ImportError as e:
        raise DecoderExportUnavailable(
            f"the ONNX exporter needs the packages onnx and onnxscript ({e})"
        ) from e
    except torch.onnx.OnnxExporterError as e:
        raise DecoderExportUnavailable(f"the ONNX exporter failed: {e}") from e
    without_provenance(program.model)
    with atomic_path(path) as tmp:
        program.save(str(tmp), external_data=False)
    return path


def without_provenance(model) -> None:
    """Drop what the exporter records about where each operation came from (stack traces
    naming the files of the machine that saved it, module paths, FX node text), in place:
    a published decoder.onnx states the computation and nothing about who made it where.
    `model` is the exporter's ONNX IR model (`ONNXProgram.model`)."""
    graph = model.graph
    nodes = list(graph.all_nodes())
    values = [*graph.inputs, *graph.outputs, *graph.initializers.values()]
    values += [value for node in nodes for value in node.outputs]
    for part in [model, graph, *nodes, *values]:
        part.metadata_props.clear()
        part.doc_string = None


@contextlib.contextmanager
def quiet_exporter():
    """Silence what torch.onnx's exporter and onnxscript print or warn while exporting
    (progress lines on stdout, deprecation and tracing warnings, log records)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "torch.export")]
    levels = [logger.level for logger in loggers]
    sink = io.StringIO()
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def write_decoder(model: nn.Module, folder: str | Path) -> bool:
    """Export `model`'s decoder as `folder`/decoder.onnx; True when written. Where the
    exporter cannot run, the folder is left without it and one line on stderr says so: a
    model folder is complete without it (the demo then decodes on the server)."""
    try:
        export_decoder(model, Path(folder) / DECODER_ONNX)
    except DecoderExportUnavailable as e:
        print(f"note: {DECODER_ONNX} left out of {folder}: {e}", file=sys.stderr)
        return False
    return True
