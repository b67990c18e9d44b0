"""`vae-hub loadtest`: N concurrent clients against the demo server.

Starts the demo in this process on a free port (or uses --url), then N threads, each with
its own gradio_client.Client, send R requests to an endpoint (default /sample, an 8x8 grid)
and, separately, to /noop, which does nothing: the difference is the cost of our code, the
rest is Gradio's queue and HTTP. Prints p50 / p99 latency, errors and throughput per
endpoint. A benchmark, not a test: timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from gradio_client import Client

from ..demo.page import build_demo, launch_kwargs, queued
from ..model import VAE
from ..pretrained import DEFAULT_MODEL_HELP, default_model

ENDPOINT_ARGS = {
    "/sample": (8, 0, 1.0),
    "/digit": ("3", 6, 0, 1.0),
    "/noop": (),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def hammer(url: str, api_name: str, clients: int, requests: int) -> dict:
    """`clients` threads x `requests` calls each; latency in seconds per call."""
    args = ENDPOINT_ARGS[api_name]

    def one_client(index: int) -> tuple[list[float], int]:
        client = Client(url, verbose=False)
        latencies, errors = [], 0
        for i in range(requests):
            call_args = (
                (args[0], index * requests + i, *args[2:]) if api_name == "/sample" else args
            )
            started = time.perf_counter()
            try:
                client.predict(*call_args, api_name=api_name)
            except Exception:  # counted, not raised: a load test reports failures
                errors += 1
            latencies.append(time.perf_counter() - started)
        return latencies, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one_client, range(clients)))
    wall = time.perf_counter() - started
    latencies = [t for lat, _ in results for t in lat]
    return {
        "endpoint": api_name,
        "requests": len(latencies),
        "errors": sum(e for _, e in results),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "throughput_per_s": len(latencies) / wall,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="a running demo (default: start one here)")
    parser.add_argument("--model", default=None, help=DEFAULT_MODEL_HELP)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument(
        "--endpoint",
        choices=sorted(set(ENDPOINT_ARGS) - {"/noop"}),
        default="/sample",
        help="endpoint under load",
    )


def execute(args: argparse.Namespace) -> int:
    demo = None
    url = args.url
    if url is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        source = args.model or default_model()
        demo = queued(build_demo(VAE.from_pretrained(source), source))
        demo.launch(
            server_name="127.0.0.1",
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            **launch_kwargs(),
        )
        url = demo.local_url
    try:
        rows = [hammer(url, name, args.clients, args.requests) for name in (args.endpoint, "/noop")]
    finally:
        if demo is not None:
            demo.close()
    print(f"{args.clients} concurrent clients x {args.requests} requests each, against {url}\n")
    print("| endpoint | requests | errors | p50 | p99 | throughput |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['endpoint']} | {r['requests']} | {r['errors']} | {r['p50_ms']:.0f} ms | "
            f"{r['p99_ms']:.0f} ms | {r['throughput_per_s']:.1f} req/s |"
        )
    return 0
