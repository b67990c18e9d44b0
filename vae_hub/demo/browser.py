"""What the page needs to decode in the visitor's browser, and the routes that serve it.

The browser side (`static/browser.js`) runs the model's decoder with ONNX Runtime Web, so
moving over the Explore map or a slider redraws at the screen's rate without a request. It
needs, once per visit: the runtime (`runtime.py`), the decoder as ONNX (the model folder's
`decoder.onnx`, else one exported from the loaded weights in the background), and small JSON
of the codes the tabs move between (the map's points, the main directions, the digits'
centres, the prior as a mixture). All of it is served under `/vae-hub/`, read-only and
fixed for the server's life. Until a part is ready, or if the visitor's browser cannot run
it, the page uses the server: every event keeps its server path and `api_name`.
"""

from __future__ import annotations

import io
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..capabilities.reconstruction import embed_picture
from ..errors import UnsafeFileError
from ..files.mnist import load_examples, to_float
from ..files.model_files import decoder_onnx_bytes
from ..model.onnx import DECODER_ONNX, DecoderExportUnavailable, export_decoder
from ..model.vae import VAE
from .params import EXPLORE_RANGE
from .runtime import BrowserRuntime
from .served import Served

PREFIX = "/vae-hub"
STATIC = Path(__file__).parent / "static"
SCRIPTS = ("browser.js", "sampling.js")  # the browser side's ES modules
# Loads the browser side once the page itself has loaded (its pictures first), relative to
# the page, so it works under a proxy's path prefix too; any failure leaves the page on its
# server path.
HEAD = """<script type="module">
const load = () => import(new URL("vae-hub/browser.js", document.baseURI).href)
  .then((m) => m.start(new URL("vae-hub/", document.baseURI).href))
  .catch((e) => console.info("vae-hub: pictures come from the server:", e));
if (document.readyState === "complete") load();
else window.addEventListener("load", load, { once: true });
</script>"""


def _rounded(t: torch.Tensor, digits: int = 5) -> list:
    """A tensor as nested lists of floats with `digits` significant digits (small JSON)."""
    return [float(f"{v:.{digits}g}") for v in t.flatten().tolist()]


def page_data(tabs: Any, sampling: dict | None = None) -> dict:
    """The codes the tabs move between, as JSON: the latent map (its points' positions and
    latent means, and where its plotting box sits in the picture), the Explore directions
    and spreads, each digit's centre, and the prior's mixtures (`sampling`)."""
    points, frame = tabs.map.points, tabs.map.frame
    model: VAE = tabs.model
    digits = model.prior.can_draw_digits
    return {
        "latent_dim": model.latent_dim,
        "map": {
            "size": list(tabs.map.picture.size),
            "frame": [frame.left, frame.top, frame.side, frame.x_min, frame.y_min, frame.span],
            "xy": _rounded(points.xy),
            "mu": _rounded(points.mu),
        },
        "explore": {
            "directions": _rounded(tabs.directions),
            "spreads": _rounded(tabs.spreads),
            "range": EXPLORE_RANGE,
            "centres": [_rounded(model.prior.digit_centre(d).detach().cpu()) for d in range(10)]
            if digits
            else None,
        },
        "interpolate": {"examples": [_rounded(z) for z in example_codes(model)]},
        "sampling": sampling,
    }


def example_codes(model: VAE) -> torch.Tensor:
    """The centre of q(z|x) of every shipped test example, in their order (digit-major):
    the ends Interpolate starts from -> (10 * EXAMPLES_PER_DIGIT, D)."""
    examples = load_examples().images
    return torch.stack([embed_picture(model, to_float(x[None])[0]) for x in examples])


class BrowserSide:
    """The files served under PREFIX for one page: fixed for the server's life."""

    def __init__(self, model: VAE, source: str, data: dict, map_png: bytes, runtime=None):
        self.runtime = runtime or BrowserRuntime()
        self.problem: str | None = None
        data = {**data, "runtime": f"{self._runtime_dir()}"}
        self._served = {
            "page.json": Served.of(json.dumps(data, separators=(",", ":")).encode(),
                                   "application/json"),
            "map.png": Served.of(map_png, "image/png", zip_it=False),
            **{name: Served.of((STATIC / name).read_bytes(), "text/javascript")
               for name in SCRIPTS},
        }  # fmt: skip
        self._model, self._source = model, source
        self._started = False
        self._decoder_ready = False

    def _runtime_dir(self) -> str:
        return f"onnxruntime-web-{self.runtime.version}/"

    def start(self) -> None:
        """Fetch the runtime and find or export the decoder, in the background."""
        if self._started:
            return
        self._started = True
        self.runtime.start()
        threading.Thread(target=self._prepare_decoder, name="decoder.onnx", daemon=True).start()

    def _prepare_decoder(self) -> None:
        try:
            # a folder's own file; a Hub repo's is exported from the weights that loaded, so
            # the two can never come from different commits
            onnx = decoder_onnx_bytes(self._source) if Path(self._source).is_dir() else None
            onnx = onnx or exported_decoder(self._model)
        except (OSError, ValueError, RuntimeError, UnsafeFileError, DecoderExportUnavailable) as e:
            self.problem = f"the page decodes on the server: no decoder.onnx ({e})"
            return
        self._served[DECODER_ONNX] = Served.of(onnx, "application/octet-stream", zip_it=False)
        self._decoder_ready = True

    def status(self) -> dict:
        """What the browser side can use now, and why not where it cannot."""
        problems = [p for p in (self.runtime.problem, self.problem) if p]
        return {"runtime": bool(self.runtime.files()), "decoder": self._decoder_ready,
                "problems": problems}  # fmt: skip

    def routes(self) -> list[Route]:
        return [Route(PREFIX + "/{name:path}", self._serve, methods=["GET", "HEAD"])]

    async def _serve(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name == "status.json":
            return Response(json.dumps(self.status()), media_type="application/json",
                            headers={"Cache-Control": "no-store"})  # fmt: skip
        served = self._served.get(name)
        if served is None and name.startswith(self._runtime_dir()):
            served = self.runtime.files().get(name[len(self._runtime_dir()) :])
        if served is None:
            return Response("not here (yet)", status_code=404, media_type="text/plain")
        return served.response(request)


def exported_decoder(model: VAE) -> bytes:
    """The decoder of the loaded weights as ONNX bytes (for a model saved without one)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / DECODER_ONNX
        export_decoder(model, path)
        return path.read_bytes()


def png_bytes(picture) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="png")
    return buffer.getvalue()
