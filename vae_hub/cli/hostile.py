"""Hostile visitors of the demo: the patterns of `vae-hub loadtest --hostile`.

Each pattern runs against a demo served by a subprocess (`python app.py`), so the memory
measured (VmRSS of /proc/PID/status) is the server's alone:

- `big-bodies`: requests whose body holds a 20 MB string where a number belongs;
- `sessions`: many visitors, each with its own session, making one valid call;
- `monopolise`: one client sends /interpolate requests as fast as it can and never reads
  their results, while an ordinary visitor uses the same tab.

Clients present the address of the visitor they play in X-Forwarded-For, which the server
(uvicorn) believes from a local client only: the monopolising client and the ordinary
visitor are two addresses, as they would be on the internet. A benchmark: numbers are
printed, never asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from gradio_client import Client

API = "gradio_api"
BIG_BODY_MB = 20
VISITOR = "203.0.113.7"  # documentation addresses (RFC 5737): no one's real address
MONOPOLIST = "198.51.100.66"
SETTLE_S = 3.0  # before reading the memory "after": the server finishes what it started
QUIET_S = 10.0  # after the monopolist stops, before its events are read


@dataclass
class Row:
    """One pattern's line of the table."""

    pattern: str
    sent: str
    outcome: str
    rss_before_mb: float
    rss_after_mb: float
    notes: list[str] = field(default_factory=list)


def visitor_address(index: int) -> str:
    """The address the load test's client `index` plays (a private network: no one's)."""
    return f"10.0.{index // 250}.{index % 250 + 1}"


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MB (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def served(app: Path, port: int, model: str | None, timeout: float = 300):
    """`python APP --port PORT` in a subprocess until the block ends -> its process."""
    command = [sys.executable, str(app), "--port", str(port)]
    command += ["--model", model] if model else []
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    # its output goes to a file: a pipe nobody reads would block the server once full
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_for_page(proc, port, timeout, log)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for_page(proc: subprocess.Popen, port: int, timeout: float, log) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the demo exited: {log.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the demo did not serve port {port}") from None
            time.sleep(0.2)


def call(http: httpx.Client, url: str, endpoint: str, data: list) -> str:
    """POST /call/ENDPOINT (the two-step HTTP API) -> the event id; raises on refusal."""
    reply = http.post(f"{url}{API}/call/{endpoint}", json={"data": data})
    reply.raise_for_status()
    return reply.json()["event_id"]


def result(http: httpx.Client, url: str, endpoint: str, event_id: str) -> str:
    """GET /call/ENDPOINT/EVENT_ID: the name of the stream's last event ("complete",
    "error")."""
    last = ""
    with http.stream("GET", f"{url}{API}/call/{endpoint}/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                last = line.partition(":")[2].strip()
                if last in ("complete", "error"):
                    break
    return last


def big_bodies(url: str, pid: int, count: int = 30) -> Row:
    """`count` POSTs of /call/sample with a 20 MB string as the seed."""
    before = settled_rss(pid)
    junk = "7" * (BIG_BODY_MB * 2**20)
    statuses: dict[str, int] = {}
    with httpx.Client(timeout=120) as http:
        for _ in range(count):
            try:
                reply = http.post(f"{url}{API}/call/sample", json={"data": [8, junk, 1.0]})
                key = str(reply.status_code)
            except httpx.HTTPError as e:  # a server may close the connection instead
                key = type(e).__name__
            statuses[key] = statuses.get(key, 0) + 1
        alive = http.post(f"{url}{API}/call/latent_map", json={"data": []}).status_code
    outcome = ", ".join(f"{n} x {key}" for key, n in sorted(statuses.items()))
    return Row("big-bodies", f"{count} x {BIG_BODY_MB} MB body to /call/sample", outcome,
               before, settled_rss(pid), [f"a valid call afterwards: HTTP {alive}"])  # fmt: skip


def sessions(url: str, pid: int, count: int = 10_000, clients: int = 8) -> Row:
    """`count` valid /call/latent_map calls, each its own session (the /call/ API gives
    every call one), read to the end by `clients` threads."""
    before = settled_rss(pid)
    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def one_client(index: int) -> None:
        headers = {"X-Forwarded-For": visitor_address(index)}
        with httpx.Client(timeout=120, headers=headers) as http:
            for _ in range(index, count, clients):
                try:
                    last = result(http, url, "latent_map", call(http, url, "latent_map", []))
                except httpx.HTTPError as e:
                    last = type(e).__name__
                with lock:
                    outcomes[last] = outcomes.get(last, 0) + 1

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one_client, range(clients)))
    outcome = ", ".join(f"{n} {key}" for key, n in sorted(outcomes.items()))
    return Row("sessions", f"{count} valid calls, one session each", outcome, before,
               settled_rss(pid))  # fmt: skip


def interpolate_arguments(i: int) -> list:
    return [str(i % 10), i // 10 % 10, None, str(i // 100 % 10), 0, None, 10, "linear"]


def monopolise(url: str, pid: int, visits: int = 40) -> Row:
    """One client sends /interpolate (distinct arguments) without reading its results for
    as long as an ordinary visitor makes `visits` calls of /interpolate, one at a time;
    the visitor's latency alone, before, for comparison."""
    before = settled_rss(pid)
    visitor = Client(url, verbose=False, headers={"X-Forwarded-For": VISITOR})
    alone = visit(visitor, range(visits // 4))
    stop = threading.Event()
    sent: list[str] = []
    refused: dict[str, int] = {}

    def monopolist() -> None:
        with httpx.Client(timeout=60, headers={"X-Forwarded-For": MONOPOLIST}) as http:
            i = 0
            while not stop.is_set():
                try:
                    sent.append(call(http, url, "interpolate", interpolate_arguments(i)))
                except httpx.HTTPStatusError as e:
                    key = str(e.response.status_code)
                    refused[key] = refused.get(key, 0) + 1
                    time.sleep(0.01)
                i += 1

    cpu_before = cpu_seconds(pid)
    thread = threading.Thread(target=monopolist)
    thread.start()
    time.sleep(2)  # the queue fills up before the visitor arrives
    beside = visit(visitor, range(visits // 4, visits // 4 + visits))
    stop.set()
    thread.join()
    cpu = cpu_seconds(pid) - cpu_before
    time.sleep(QUIET_S)  # what the server does with the events left in its queue
    ran = collect(url, sent)
    answered = len(beside.latencies) - len(beside.errors)
    notes = [
        f"monopolist: {len(sent)} queued, {sum(refused.values())} refused "
        f"({', '.join(f'HTTP {k}' for k in sorted(refused)) or 'none'}); of the queued, "
        f"{ran.get('complete', 0)} were computed, {ran.get('error', 0)} dropped unread, "
        f"{ran.get('', 0)} unaccounted",
        f"visitor p50 {beside.p50_ms:.0f} ms (alone: {alone.p50_ms:.0f} ms), "
        f"server CPU {cpu:.1f} s",
    ]
    if beside.errors:
        notes.append(f"visitor's first error: {beside.errors[0][:200]}")
    return Row("monopolise", f"1 client never reading /interpolate; visitor {visits} calls",
               f"visitor answered {answered}/{visits} ({100 * answered / visits:.0f}%)",
               before, settled_rss(pid), notes)  # fmt: skip


@dataclass
class Visits:
    latencies: list[float]
    errors: list[str]

    @property
    def p50_ms(self) -> float:
        return 1000 * sorted(self.latencies)[len(self.latencies) // 2]


def visit(visitor: Client, calls: range) -> Visits:
    """An ordinary visitor's /interpolate calls, one at a time."""
    result = Visits([], [])
    for i in calls:
        started = time.perf_counter()
        try:
            visitor.predict(*interpolate_arguments(1000 + 7 * i), api_name="/interpolate")
        except Exception as e:  # counted, not raised: a benchmark reports failures
            result.errors.append(f"{type(e).__name__}: {e}")
        result.latencies.append(time.perf_counter() - started)
    return result


def collect(url: str, event_ids: list[str], timeout: float = 5) -> dict[str, int]:
    """Read the results no one read: how each event ended ("complete", "error", or "" when
    nothing came within `timeout`)."""
    outcomes: dict[str, int] = {}
    with httpx.Client(timeout=timeout) as http:

        def one(event_id: str) -> str:
            try:
                return result(http, url, "interpolate", event_id)
            except httpx.HTTPError:
                return ""

        with ThreadPoolExecutor(max_workers=8) as pool:
            for last in pool.map(one, event_ids):
                outcomes[last] = outcomes.get(last, 0) + 1
    return outcomes


def settled_rss(pid: int) -> float:
    time.sleep(SETTLE_S)
    return rss_mb(pid)


PATTERNS: dict[str, Callable[[str, int], Row]] = {
    "big-bodies": big_bodies,
    "sessions": sessions,
    "monopolise": monopolise,
}


def hostile_table(app: Path, model: str | None, patterns: list[str], port: int) -> str:
    """Each pattern against its own fresh server; a Markdown table."""
    lines = [
        f"`python {app}` in a subprocess, each pattern against a fresh server\n",
        "| pattern | sent | outcome | server RSS before | after | growth | notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in patterns:
        with served(app, port, model) as proc:
            row = PATTERNS[name](f"http://127.0.0.1:{port}/", proc.pid)
        lines.append(
            f"| {row.pattern} | {row.sent} | {row.outcome} | {row.rss_before_mb:.0f} MB | "
            f"{row.rss_after_mb:.0f} MB | {row.rss_after_mb - row.rss_before_mb:+.0f} MB | "
            f"{'; '.join(row.notes)} |"
        )
    return "\n".join(lines)
