"""Each visitor's share of the queue and the events no one reads (`vae_hub.demo.shares`),
on a real Gradio server whose one event waits until the test lets it finish: what waits in
the queue is then known exactly. Requests are real HTTP (httpx); clients play distinct
addresses through X-Forwarded-For, which the server believes from the machine itself."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import gradio as gr
import httpx
import pytest

from vae_hub.cli.loadtest import free_port
from vae_hub.demo.page import launch_kwargs, queued
from vae_hub.demo.shares import VisitorShares

API = "gradio_api"


@pytest.fixture
def gated():
    """A factory: a page with one event, `/slow`, run one at a time, that blocks until
    `gate` is set; a queue of 8 with shares of 2 per session and 3 per address."""
    servers = []

    def start(grace_s: float = 600.0):
        gate = threading.Event()
        calls: list[int] = []

        def slow(x):
            calls.append(int(x))
            gate.wait(60)
            return x

        with gr.Blocks() as demo:
            number, out = gr.Number(), gr.Number()
            gr.Button().click(slow, number, out, api_name="slow")
        demo.queue(default_concurrency_limit=1, max_size=8, api_open=False)
        shares = VisitorShares(demo._queue, session_share=2, address_share=3, grace_s=grace_s)
        demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                    quiet=True, **launch_kwargs(demo))  # fmt: skip
        servers.append((demo, gate))
        return SimpleNamespace(url=demo.local_url, gate=gate, calls=calls, shares=shares)

    yield start
    for demo, gate in servers:
        gate.set()
        demo.close()


def post(url: str, x: int, session: str | None = None, address: str = "192.0.2.1"):
    body = {"data": [x], **({"session_hash": session} if session else {})}
    headers = {"X-Forwarded-For": address}
    return httpx.post(f"{url}{API}/call/slow", json=body, headers=headers, timeout=30)


def result(url: str, event_id: str) -> str:
    """The stream of an event's results, to its end."""
    with httpx.stream("GET", f"{url}{API}/call/slow/{event_id}", timeout=60) as stream:
        return "".join(stream.iter_text())


def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        time.sleep(0.02)


def block_the_worker(server) -> None:
    """Start an event whose result is read, and wait until it runs: the one worker is busy
    until the gate opens, so what comes next waits in the queue."""
    event = post(server.url, 0, "first").json()["event_id"]
    threading.Thread(target=result, args=(server.url, event), daemon=True).start()
    wait_until(lambda: server.calls == [0])


def test_the_page_queue_has_shares_and_no_route_around_it(trained_model_dir, tmp_path):
    from vae_hub import VAE
    from vae_hub.demo.page import build_demo
    from vae_hub.demo.store import PictureStore

    model = VAE.from_pretrained(trained_model_dir)
    page = queued(build_demo(model, str(trained_model_dir), PictureStore(tmp_path)))
    assert isinstance(page._queue.push.__self__, VisitorShares)
    assert VisitorShares.of(page) is page._queue.push.__self__  # installed once
    assert page.api_open is False  # /run/NAME would skip the queue


def test_a_session_gets_its_share_of_the_queue_and_no_more(gated):
    server = gated()
    block_the_worker(server)
    assert [post(server.url, i, "tab-a").status_code for i in (1, 2)] == [200, 200]
    refused = post(server.url, 3, "tab-a")
    assert refused.status_code == 429
    assert "too many requests waiting: at most 2 per visitor" in refused.json()["detail"]
    other = post(server.url, 4, "tab-b")  # another visitor, same address: the queue is quiet
    assert other.status_code == 200
    server.gate.set()
    assert "complete" in result(server.url, other.json()["event_id"])


def test_once_the_queue_is_half_full_an_address_gets_its_share_and_no_more(gated):
    server = gated()
    block_the_worker(server)
    many = "198.51.100.66"  # one address, a new session per request (the /call/ API)
    admitted = [post(server.url, i, address=many).status_code for i in range(1, 5)]
    assert admitted == [200] * 4  # below half of the queue (4 of 8): no address share yet
    refused = post(server.url, 5, address=many)
    assert refused.status_code == 429 and many in refused.json()["detail"]
    visitor = post(server.url, 6, "visitor", address="203.0.113.7")
    assert visitor.status_code == 200  # an ordinary visitor still gets in
    server.gate.set()
    assert "complete" in result(server.url, visitor.json()["event_id"])


def test_an_event_runs_only_once_someone_reads_it_and_is_dropped_if_no_one_does(gated):
    server = gated(grace_s=1.0)
    server.gate.set()  # nothing blocks: a worker is free all along
    unread = post(server.url, 7).json()["event_id"]
    wait_until(lambda: server.shares.dropped == 1)  # the grace passed with no reader
    assert server.calls == []  # it never ran, though the server was idle
    read = post(server.url, 8).json()["event_id"]
    answer = result(server.url, read)  # opening the stream lets it run
    assert "complete" in answer and "8" in answer and server.calls == [8]
    late = result(server.url, unread)
    assert "event: error" in late and "no one read" in late
