"""`vae-hub loadtest`: concurrent clients against the demo server.

Starts the demo in this process on a free port (or uses --url, a server started with
VAE_HUB_LOADTEST=1), then N threads, each with its own gradio_client.Client, send R requests
to each endpoint: all with identical arguments (identical pictures, the case that broke
Gradio's shared cache files), and with distinct arguments (a new seed, digit or position per
request). Two baselines are measured the same way: /noop, which does nothing, and
/noop_picture, which returns an existing picture through an image output (Gradio's queue,
HTTP and one picture download): the difference to a picture endpoint is the cost of our
code. Prints p50 / p99 latency, errors and throughput per endpoint. Each client plays a
visitor of its own address (X-Forwarded-For, which the server believes from the machine
itself), as visitors on the internet are, so the queue's per-address share applies to each
alone. A benchmark, not a test: timings are reported, never asserted.

`--hostile` runs hostile visitors instead (`hostile.py`).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from gradio_client import Client

from ..demo.page import build_demo, launch_kwargs, queued
from ..files.bundled import DEFAULT_MODEL_HELP, default_model
from ..model.vae import VAE
from .common import bounded
from .hostile import PATTERNS, hostile_table, visitor_address

# endpoint -> arguments of request i (i = 0 for every request when they are identical)
ENDPOINTS: dict[str, Callable[[int], tuple]] = {
    "/sample": lambda i: (8, i, 1.0),
    "/digit": lambda i: (str(i % 10), 6, i, 0.5),
    "/interpolate": lambda i: (str(i % 10), i // 10 % 10, None, "7", 0, None, 10, "linear"),
    "/latent_map": lambda i: (),
    "/explore": lambda i: (str(i % 10), None, None, (i % 61) / 10 - 3, 0.0, 0.0, 0.0),
    "/noop": lambda i: (),
    "/noop_picture": lambda i: (),
}
DEFAULT_ENDPOINTS = ["/sample", "/digit", "/interpolate", "/latent_map", "/explore"]
PACKAGE_APP = Path(__file__).resolve().parents[1] / "templates" / "app.py"


def takes_arguments(endpoint: str) -> bool:
    """False for an endpoint called with no arguments: its requests are all identical."""
    return ENDPOINTS[endpoint](0) != ()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def file_urls(result: Any) -> list[str]:
    """The URLs of the files in an endpoint's result (a gradio_client result with
    `download_files=False`: one file's data, or a tuple of outputs)."""
    outputs = result if isinstance(result, (list, tuple)) else [result]
    return [o["url"] for o in outputs if isinstance(o, dict) and o.get("url")]


def hammer(url: str, endpoint: str, clients: int, requests: int, identical: bool = True) -> dict:
    """`clients` threads x `requests` calls each; latency in seconds per call. Each call
    downloads every picture it returns in full, as a visitor's browser would: over one
    kept-alive connection per client (gradio_client's own download opens a new connection
    and a temporary folder per file, which no browser does). Each client warms its
    connections up before the clock starts."""
    arguments = ENDPOINTS[endpoint]

    def one_client(index: int) -> tuple[list[float], list[str]]:
        address = {"X-Forwarded-For": visitor_address(index)}
        client = Client(url, verbose=False, download_files=False, headers=address)
        latencies, errors = [], []
        with httpx.Client(timeout=60) as browser:
            # Untimed warm-up: opens this client's connections (queue and download) on a
            # baseline endpoint, so the first timed request of each client is not a
            # connection set-up, and the measured endpoint sees only its own requests.
            for file_url in file_urls(client.predict(api_name="/noop_picture")):
                browser.get(file_url).raise_for_status()
            for i in range(requests):
                args = arguments(0 if identical else index * requests + i)
                started = time.perf_counter()
                try:
                    for file_url in file_urls(client.predict(*args, api_name=endpoint)):
                        browser.get(file_url).raise_for_status()  # a short body raises too
                except Exception as e:  # counted, not raised: a load test reports failures
                    errors.append(f"{type(e).__name__}: {e}")
                latencies.append(time.perf_counter() - started)
        return latencies, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one_client, range(clients)))
    wall = time.perf_counter() - started
    latencies = [t for lat, _ in results for t in lat]
    errors = [e for _, errs in results for e in errs]
    return {
        "endpoint": endpoint,
        "arguments": "identical" if identical or not takes_arguments(endpoint) else "distinct",
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "throughput_per_s": len(latencies) / wall,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def startup_seconds(command: list[str], port: int | None = None, timeout: float = 300) -> float:
    """Seconds until `command` exits (port None) or serves its page on `port`."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if port is None:
            proc.wait(timeout=timeout)
            return time.perf_counter() - started
        while time.perf_counter() - started < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
                    if reply.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{command} did not serve port {port} in {timeout} s")
    finally:
        proc.kill()
        proc.wait()


def startup_table(app: Path, model: str | None, repeats: int) -> str:
    """`python app.py` until its page answers, against `python -c "import torch, gradio"`,
    alternating, `repeats` times each (medians)."""
    imports, ready = [], []
    for _ in range(repeats):
        imports.append(startup_seconds([sys.executable, "-c", "import torch, gradio"]))
        port = free_port()
        command = [sys.executable, str(app), "--port", str(port)]
        ready.append(startup_seconds(command + (["--model", model] if model else []), port))
    a, b = statistics.median(imports), statistics.median(ready)
    return (
        "| command | median seconds |\n| --- | --- |\n"
        f'| `python -c "import torch, gradio"` | {a:.2f} |\n'
        f"| `python app.py` until its page answers | {b:.2f} ({b / a:.2f}x) |"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="a running demo (default: start one here)")
    parser.add_argument("--model", default=None, help=DEFAULT_MODEL_HELP)
    parser.add_argument(
        "--clients", type=bounded(int, low=1), default=16, help="concurrent clients"
    )
    parser.add_argument(
        "--requests", type=bounded(int, low=1), default=20, help="requests per client"
    )
    parser.add_argument(
        "--endpoints",
        nargs="+",
        choices=[e for e in ENDPOINTS if not e.startswith("/noop")],
        default=DEFAULT_ENDPOINTS,
        help="endpoints under load",
    )
    parser.add_argument(
        "--arguments",
        choices=("identical", "distinct", "both"),
        default="both",
        help="identical arguments in every request, distinct ones, or both in turn",
    )
    parser.add_argument(
        "--startup",
        type=Path,
        metavar="APP_PY",
        default=None,
        help="instead: time `python APP_PY` until its page answers, against importing "
        "torch and gradio",
    )
    parser.add_argument(
        "--repeats", type=bounded(int, low=1), default=3, help="with --startup: runs of each"
    )
    parser.add_argument(
        "--hostile",
        nargs="+",
        choices=list(PATTERNS),
        default=None,
        help="instead: hostile visitors against `python APP_PY` in a subprocess (--app), "
        "with the server's memory before and after each pattern",
    )
    parser.add_argument(
        "--app",
        type=Path,
        metavar="APP_PY",
        default=PACKAGE_APP,
        help="with --hostile: the demo to run (default: the package's app.py)",
    )


def execute(args: argparse.Namespace) -> int:
    if args.startup:
        print(startup_table(args.startup, args.model, args.repeats))
        return 0
    if args.hostile:
        print(hostile_table(args.app, args.model, args.hostile, free_port()))
        return 0
    demo = None
    url = args.url
    if url is None:
        port = free_port()
        source = args.model or default_model()
        demo = queued(build_demo(VAE.from_pretrained(source), source, loadtest=True))
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                    quiet=True, **launch_kwargs(demo))  # fmt: skip
        url = demo.local_url
    modes = {"identical": [True], "distinct": [False], "both": [True, False]}[args.arguments]
    rows = []
    try:
        rows.append(hammer(url, "/noop", args.clients, args.requests))
        rows.append(hammer(url, "/noop_picture", args.clients, args.requests))
        for endpoint in args.endpoints:
            for identical in modes:
                if not identical and not takes_arguments(endpoint):
                    continue
                rows.append(hammer(url, endpoint, args.clients, args.requests, identical))
    finally:
        if demo is not None:
            demo.close()
    noop, noop_picture = rows[0]["p50_ms"], rows[1]["p50_ms"]
    print(f"{args.clients} concurrent clients x {args.requests} requests each, against {url}\n")
    print(
        "| endpoint | arguments | requests | errors | p50 | p50 / noop | p50 / noop_picture "
        "| p99 | throughput |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['endpoint']} | {r['arguments']} | {r['requests']} | {r['errors']} | "
            f"{r['p50_ms']:.0f} ms | {r['p50_ms'] / noop:.2f}x | "
            f"{r['p50_ms'] / noop_picture:.2f}x | {r['p99_ms']:.0f} ms | "
            f"{r['throughput_per_s']:.1f} req/s |"
        )
    return 0
