"""Latency and throughput of the scoring service on loopback, next to the model's cost.

    python benchmarks/bench_service.py [--partners N] [--seconds S] [--rate R]
        [--live-seconds L] [--keep DIR]

Builds a synthetic ecosystem, its features, a model and a score snapshot in a
temporary folder (or once in ``--keep DIR``), starts the service in a child process
(uvicorn on 127.0.0.1, a free port, httptools and uvloop, one worker, as
``ghost-model serve`` runs it) and drives it from a second child process, the load
generator: a plain ``select`` loop over kept-alive connections, with the garbage
collector off, that sends an open-loop schedule of requests at a fixed rate. Each
request has a planned send time and its latency is counted from that time, so a slow
server cannot hide its queue by slowing the sender down; how late the generator
itself sent (its own share of the latency) is printed beside it.

Printed: p50, p99 and max latency and the achieved requests per second for

* ``POST /v1/scores`` with 1 id and with 100 ids (from the snapshot), at the rate
  and at twice the rate,
* ``POST /v1/scores`` with 1 id while live scoring runs beside it, and
* ``POST /v1/score-activity`` with one partner's rows (live features and scoring,
  at 50 requests per second),

the server's CPU per request (its process and its live scoring process), the
generator's, and, measured in the same run, the bare cost of the model's prediction
with explanations (``score_partners``) for the same rows and of the live pipeline
(validate, features, score) without HTTP, with the ratio service / bare cost. The
server reports its garbage collections per phase, and the load average is printed
before and after.

All traffic goes to 127.0.0.1 only, and every phase is bounded in requests and time.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

API_KEY = "benchmark-api-key-000000000001"
HOST = "127.0.0.1"


# preparation (in this process) --------------------------------------------------


@dataclasses.dataclass
class Fixture:
    """What the benchmark serves and sends."""

    folder: Path
    partner_ids: list[str]
    activity: dict[str, Any]
    bare: dict[str, float]


def prepare(folder: Path, partners: int, months: int, rounds: int) -> Fixture:
    """Simulate, build features, fit, score both languages, write the snapshot."""
    from ghost_model.features import (
        build_feature_table,
        load_catalogue,
        monthly_cutoffs,
    )
    from ghost_model.scoring import score_partners
    from ghost_model.simulate import simulate_ecosystem
    from ghost_model.snapshot import write_snapshot
    from ghost_model.training import TrainConfig, fit_model

    started = time.perf_counter()
    eco = simulate_ecosystem(partners=partners, months=months, seed=7)
    dataset = eco.dataset()
    table = build_feature_table(dataset, monthly_cutoffs(dataset))
    model = fit_model(
        table.frame,
        table.feature_names,
        TrainConfig(num_boost_round=rounds),
        metadata={"name": "ghost-partner", "version": "bench"},
    )
    model.save(folder / "model")
    as_of = table.frame["as_of"].max()
    catalogue = load_catalogue()
    records = {
        lang: score_partners(
            model,
            table,
            timezone=dataset.timezone,
            as_of=as_of,
            lang=lang,
            catalogue=catalogue,
        )
        for lang in ("en", "ja")
    }
    write_snapshot(records, folder / "snapshot.duckdb")
    ids = [r["partner_id"] for r in records["en"]]
    print(
        f"prepared {len(ids)} scored partners of {partners} "
        f"({len(table.frame)} feature rows) in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    activity = activity_payload(eco.tables, ids[0], dataset.timezone, as_of)
    bare = measure_bare(model, table, dataset, as_of, ids, catalogue, eco.tables)
    return Fixture(folder, ids, activity, bare)


def activity_payload(
    tables: dict[str, Any], partner_id: str, timezone: str, as_of: Any
) -> dict[str, Any]:
    """One partner's rows of every table as a /v1/score-activity body."""
    posted: dict[str, list[dict[str, Any]]] = {}
    for name, frame in tables.items():
        rows = frame[frame["partner_id"] == partner_id]
        posted[name] = json.loads(rows.to_json(orient="records", date_format="iso"))
    day = as_of.tz_convert(timezone).date().isoformat()
    return {
        "partner_id": partner_id,
        "as_of": day,
        "timezone": timezone,
        "tables": posted,
    }


def measure_bare(
    model: Any,
    table: Any,
    dataset: Any,
    as_of: Any,
    ids: list[str],
    catalogue: Any,
    tables: dict[str, Any],
) -> dict[str, float]:
    """Median seconds to score 1 and 100 rows, and of the live pipeline, in-process."""
    from ghost_model.features import build_feature_table
    from ghost_model.loaders import validate_tables
    from ghost_model.scoring import score_partners

    frame = table.frame[table.frame["as_of"] == as_of]

    def score(n: int) -> None:
        rows = dataclasses.replace(
            table, frame=frame[frame["partner_id"].isin(ids[:n])]
        )
        score_partners(
            model, rows, timezone=dataset.timezone, as_of=as_of, catalogue=catalogue
        )

    def live() -> None:
        raw = {name: f[f["partner_id"] == ids[0]].copy() for name, f in tables.items()}
        checked = validate_tables(raw, dataset.config)
        one = build_feature_table(checked, [as_of])
        score_partners(
            model, one, timezone=dataset.timezone, as_of=as_of, catalogue=catalogue
        )

    return {
        "score_1": median_seconds(lambda: score(1), 30),
        "score_100": median_seconds(lambda: score(100), 15),
        "live": median_seconds(live, 5),
    }


def median_seconds(call: Any, repeat: int) -> float:
    """Median CPU time of ``call`` over ``repeat`` runs after one warm-up run.

    CPU time (this process, all threads) rather than wall time, so that other work
    on the machine does not inflate the baseline.
    """
    call()
    times = []
    for _ in range(repeat):
        started = time.process_time()
        call()
        times.append(time.process_time() - started)
    return statistics.median(times)


# the server (child process) -------------------------------------------------------


def serve(folder: Path, port: int) -> None:
    """Child: serve the prepared model and snapshot until stdin closes; report GC."""
    import logging

    import uvicorn

    from ghost_model.features import load_catalogue
    from ghost_model.model import PartnerRiskModel
    from ghost_model.settings import Settings
    from ghost_model.snapshot import read_snapshot
    from serving.app import create_app
    from serving.state import ServiceState, build_state

    logging.basicConfig(level=logging.WARNING)

    def load(settings: Settings) -> ServiceState:
        catalogue = load_catalogue()
        return build_state(
            PartnerRiskModel.load(folder / "model"),
            read_snapshot(folder / "snapshot.duckdb"),
            alias="champion",
            source=str(folder / "snapshot.duckdb"),
            stages={name: spec.stage for name, spec in catalogue.items()},
            catalogue=catalogue,
        )

    pauses = GcPauses()
    settings = Settings(api_keys=[API_KEY], max_body_bytes=8 * 1024 * 1024)
    app = create_app(settings, loader=load)
    threading.Thread(target=pauses.arm_when_loaded, args=(app,), daemon=True).start()
    server = uvicorn.Server(server_config(app, port))

    def follow_phases_until_eof() -> None:
        for line in sys.stdin:
            pauses.phase = line.strip()
        server.should_exit = True

    threading.Thread(target=follow_phases_until_eof, daemon=True).start()
    server.run()
    print(json.dumps({"gc": pauses.summary()}), flush=True)


def serve_floor(folder: Path, port: int) -> None:
    """Child: uvicorn, configured as the service, with an app that only answers.

    Every request gets the same bytes (one partner's record) after its body is read:
    what HTTP on this machine costs without the service, measured by the same load
    generator, so the service's figures can be read against it.
    """
    import uvicorn

    from ghost_model.snapshot import read_snapshot

    body = next(iter(read_snapshot(folder / "snapshot.duckdb")["en"].values()))
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
    ]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body", False):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    server = uvicorn.Server(server_config(app, port, lifespan="off"))

    def stop_on_eof() -> None:
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=stop_on_eof, daemon=True).start()
    server.run()


class GcPauses:
    """Collects every garbage collection's pause, wall and CPU time, per phase.

    CPU time (of the collecting thread) is what the collector itself costs; wall
    time adds whatever else the machine did meanwhile. The parent names the
    current phase on this process's stdin.
    """

    def __init__(self) -> None:
        self.started = (0.0, 0.0)
        self.armed = False
        self.phase = "start"
        self.pauses: dict[str, list[tuple[int, float, float]]] = {}
        gc.callbacks.append(self.on_gc)

    def arm_when_loaded(self, app: Any) -> None:
        """Start counting once the state is loaded and the heap settled."""
        while app.state.holder.current is None:
            time.sleep(0.05)
        time.sleep(1.0)
        self.armed = True

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if not self.armed:
            return
        if phase == "start":
            self.started = (time.perf_counter(), time.thread_time())
        else:
            wall = time.perf_counter() - self.started[0]
            cpu = time.thread_time() - self.started[1]
            pause = (info["generation"], wall, cpu)
            self.pauses.setdefault(self.phase, []).append(pause)

    def summary(self) -> dict[str, Any]:
        """Per phase: collections per generation, longest CPU and wall pause."""
        return {
            phase: {
                "collections": dict(Counter(g for g, _, _ in pauses)),
                "max_cpu_ms": round(1e3 * max(c for _, _, c in pauses), 2),
                "max_wall_ms": round(1e3 * max(w for _, w, _ in pauses), 2),
            }
            for phase, pauses in self.pauses.items()
        }


def server_config(app: Any, port: int, **extra: Any) -> Any:
    """The uvicorn set-up of every served phase (service and floor alike)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        http=best_http(),
        loop=best_loop(),
        **extra,
    )


def best_http() -> str:
    """httptools when installed (C parser), else h11."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def best_loop() -> str:
    """uvloop when installed, else asyncio."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


@contextlib.contextmanager
def child_server(
    folder: Path, mode: str = "--serve"
) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """Start the service (or, ``--floor``, the floor app) in a child process on a
    free port; stop it by its PID."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    command = [sys.executable, __file__, mode, str(folder), "--port", str(port)]
    child = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        wait_until_ready(port, timeout=180)
        yield port, child
    finally:
        if child.stdin:
            child.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=30)
        if child.poll() is None:
            os.kill(child.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=30)
        if child.poll() is None:
            child.kill()
            child.wait()


def wait_until_ready(port: int, timeout: float) -> None:
    """Poll GET /readyz until 200."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://{HOST}:{port}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the service on port {port} was not ready in {timeout:.0f} s")


# the load generator (a third process) ---------------------------------------------


def http_request(path: str, body: dict[str, Any]) -> bytes:
    """One keep-alive HTTP/1.1 POST, as bytes."""
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nX-API-Key: {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


@dataclasses.dataclass
class Phase:
    """One open-loop run to drive: a request sent ``rate`` times a second."""

    name: str
    request: bytes
    rate: float
    seconds: float
    connections: int = 32
    report: bool = True
    beside: bytes = b""
    beside_rate: float = 0.0


@dataclasses.dataclass
class Run:
    """Latencies (from the planned send time) and statuses of one open-loop run."""

    name: str
    rate: float
    latencies: list[float]
    statuses: Counter[int]
    elapsed: float
    sent: int
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    send_lag: list[float] = dataclasses.field(default_factory=list)
    beside: list[float] = dataclasses.field(default_factory=list)

    def line(self, bare: float) -> str:
        done = sorted(self.latencies)
        if not done:
            return f"{self.name:<27} no answers"
        p50 = 1e3 * percentile(done, 0.50)
        p99 = 1e3 * percentile(done, 0.99)
        lag = 1e3 * percentile(sorted(self.send_lag), 0.99) if self.send_lag else 0.0
        cpu = 1e3 * self.server_cpu / len(done)
        client = 1e3 * self.client_cpu / len(done)
        return (
            f"{self.name:<27} {self.rate:>6.0f} {len(done) / self.elapsed:>7.0f} "
            f"{p50:>8.2f} {p99:>8.2f} {1e3 * done[-1]:>8.1f} {lag:>7.2f} "
            f"{cpu:>8.3f} {client:>8.3f} {1e3 * bare:>8.3f} "
            f"{cpu / (1e3 * bare):>8.4f} {dict(self.statuses)}"
        )


def percentile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted values (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` and its children so far.

    The children are the service's live scoring process (Linux /proc).
    """
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if stat.parent.name == str(pid) or fields[1] == str(pid):
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class Connection:
    """A kept-alive connection with at most one request in flight."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.planned = 0.0
        self.head = b""
        self.remaining = -1
        self.status = 0

    def send(self, request: bytes, planned: float) -> None:
        """Send the whole request (small: it fits the socket buffer)."""
        self.planned = planned
        self.head = b""
        self.remaining = -1
        self.sock.setblocking(True)
        self.sock.sendall(request)
        self.sock.setblocking(False)

    def feed(self, buffer: bytearray, size: int) -> bool:
        """Take ``size`` received bytes from ``buffer``; True once the answer is in.

        The body is only counted, never copied; the head is parsed in place unless
        it arrives split over two reads.
        """
        if not size:
            raise ConnectionError("the server closed a kept-alive connection")
        if self.remaining >= 0:
            self.remaining -= size
            return self.remaining <= 0
        if not self.head:
            end = buffer.find(b"\r\n\r\n", 0, size)
            if end >= 0:
                return self.start_body(bytes(buffer[:end]), size - end - 4)
        self.head += bytes(buffer[:size])
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            return False
        return self.start_body(self.head[:end], len(self.head) - end - 4)

    def start_body(self, head: bytes, received: int) -> bool:
        """Read status and length from the head; count the body bytes already in."""
        self.status = int(head[9:12])
        self.remaining = content_length(head) - received
        return self.remaining <= 0


def content_length(head: bytes) -> int:
    """The Content-Length of a response head."""
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    return int(head[at + 17 :].split(b"\r\n", 1)[0])


def open_loop(port: int, pid: int, phase: Phase, timeout: float = 120.0) -> Run:
    """Send ``rate * seconds`` requests on a fixed schedule over kept-alive connections.

    A plain ``select`` loop (microsecond timeouts, no tasks or futures): request
    ``i`` is planned at ``start + i / rate``; when the loop is late it sends every
    request due at once, and when every connection is busy a request waits for the
    first free one. Latency runs from the planned time to the last byte of the
    answer; ``send_lag`` is how late the request actually left, i.e. the share of
    the latency this generator caused itself.
    """
    connections = [Connection(port) for _ in range(phase.connections)]
    idle = list(connections)
    busy: dict[socket.socket, Connection] = {}
    waiting: list[float] = []
    total = max(1, int(phase.rate * phase.seconds))
    latencies: list[float] = []
    send_lag: list[float] = []
    statuses: Counter[int] = Counter()
    clock = time.perf_counter
    buffer = bytearray(1 << 18)

    def start_one(planned: float) -> None:
        connection = idle.pop()
        connection.send(phase.request, planned)
        send_lag.append(clock() - planned)
        busy[connection.sock] = connection

    stop = threading.Event()
    beside: list[float] = []
    if phase.beside:
        args = (port, phase.beside, phase.beside_rate, stop, beside)
        threading.Thread(target=send_beside, args=args, daemon=True).start()
    cpu_before = cpu_seconds(pid)
    client_before = time.process_time()
    start = clock() + 0.05
    deadline = start + phase.seconds + timeout
    sent = 0
    while len(latencies) < total and clock() < deadline:
        now = clock()
        while sent < total and start + sent / phase.rate <= now:
            waiting.append(start + sent / phase.rate)
            sent += 1
        while waiting and idle:
            start_one(waiting.pop(0))
        wait = start + sent / phase.rate - clock() if sent < total else 0.5
        ready, _, _ = select.select(list(busy), [], [], max(0.0, wait))
        for sock in ready:
            connection = busy[sock]
            if connection.feed(buffer, sock.recv_into(buffer)):
                latencies.append(clock() - connection.planned)
                statuses[connection.status] += 1
                del busy[sock]
                idle.append(connection)
                if waiting:
                    start_one(waiting.pop(0))
    elapsed = clock() - start
    server_cpu = cpu_seconds(pid) - cpu_before
    client_cpu = time.process_time() - client_before
    stop.set()
    for connection in connections:
        connection.sock.close()
    return Run(
        phase.name,
        phase.rate,
        latencies,
        statuses,
        elapsed,
        sent,
        server_cpu,
        client_cpu,
        send_lag,
        beside,
    )


def send_beside(
    port: int, request: bytes, rate: float, stop: threading.Event, out: list[float]
) -> None:
    """Send ``request`` about ``rate`` times a second, one at a time, until ``stop``.

    Background load for a measured phase (e.g. live scoring while snapshot requests
    are timed); each answer's latency is appended to ``out``.
    """
    connection = Connection(port)
    buffer = bytearray(1 << 18)
    while not stop.wait(1 / rate):
        started = time.perf_counter()
        connection.send(request, started)
        ready = False
        while not ready and not stop.is_set():
            if select.select([connection.sock], [], [], 0.5)[0]:
                ready = connection.feed(buffer, connection.sock.recv_into(buffer))
        if ready:
            out.append(time.perf_counter() - started)
    connection.sock.close()


def drive_phases(port: int, pid: int, phases: list[Phase]) -> None:
    """Child: run the phases in order; one JSON line per phase on stdout.

    A line ``{"phase": name}`` precedes each run so the parent can tell the server
    which phase its garbage collections belong to. The collector of this process is
    off while it drives: it allocates no reference cycles, and its pauses would be
    counted as the server's latency.
    """
    gc.collect()
    gc.disable()
    for phase in phases:
        print(json.dumps({"phase": phase.name}), flush=True)
        time.sleep(0.2)
        run = open_loop(port, pid, phase)
        if phase.report:
            fields = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}
            print(json.dumps({"run": fields}), flush=True)


def phases_of(
    fixture: Fixture, seconds: float, rate: float, live: float
) -> list[Phase]:
    """The benchmark phases, in order (warm-ups are not reported)."""
    one = http_request("/v1/scores", {"partner_ids": fixture.partner_ids[:1]})
    hundred = http_request("/v1/scores", {"partner_ids": fixture.partner_ids[:100]})
    posted = http_request("/v1/score-activity", fixture.activity)
    phases = [
        Phase("warm-up 1", one, 500, 1, report=False),
        Phase("warm-up 100", hundred, 200, 1, report=False),
        Phase("scores, 1 id", one, rate, seconds),
        Phase("scores, 100 ids", hundred, rate, seconds),
        Phase("scores, 100 ids, 2x rate", hundred, 2 * rate, seconds),
    ]
    if live > 0:
        phases += [
            Phase("warm-up live", posted, 2, 1, connections=2, report=False),
            Phase(
                "scores, 1 id, live beside",
                one,
                rate,
                seconds,
                beside=posted,
                beside_rate=4,
            ),
            Phase("score-activity, 1 partner", posted, 50, live, connections=8),
        ]
    return phases


def floor_phases(phases: list[Phase]) -> list[Phase]:
    """The 1-id phases, against the floor app (its answer is a fixed record)."""
    one = next(p for p in phases if p.name == "scores, 1 id")
    return [
        dataclasses.replace(
            one, name="warm-up floor", rate=500, seconds=1, report=False
        ),
        dataclasses.replace(one, name="floor: uvicorn alone, 1 id"),
    ]


def drive(
    phases: Path, port: int, pid: int, server: subprocess.Popen[str]
) -> list[Run]:
    """Run the load generator in a fresh process; relay its phases to the server."""
    command = [sys.executable, __file__, "--drive", str(phases), "--port", str(port)]
    command += ["--server-pid", str(pid)]
    runs: list[Run] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as driver:
        assert driver.stdout is not None
        for line in driver.stdout:
            message = json.loads(line)
            if "phase" in message and server.stdin is not None:
                server.stdin.write(message["phase"] + "\n")
                server.stdin.flush()
            elif "run" in message:
                fields = message["run"]
                fields["statuses"] = Counter(
                    {int(k): v for k, v in fields["statuses"].items()}
                )
                runs.append(Run(**fields))
    if driver.returncode:
        raise RuntimeError(f"the load generator failed (exit {driver.returncode})")
    return runs


def report(runs: list[Run], fixture: Fixture, gc_report: str, http: str) -> None:
    """Print the table and the settings it was measured with."""
    bare = fixture.bare
    print(
        f"\nservice on {HOST} (uvicorn, http={http}, loop={best_loop()}, 1 worker); "
        f"load average {load_average()} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'phase':<27} {'rate':>6} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'lag99':>7} {'cpu/req':>8} {'client':>8} {'bare':>8} "
        f"{'cpu/bare':>8} statuses"
    )
    bases = {
        "scores, 1 id": bare["score_1"],
        "floor": bare["score_1"],
        "score-activity": bare["live"],
    }
    for run in runs:
        base = next((v for k, v in bases.items() if run.name.startswith(k)), None)
        print(run.line(bare["score_100"] if base is None else base))
    for run in runs:
        if run.beside:
            done = sorted(run.beside)
            print(
                f"beside '{run.name}': {len(done)} score-activity requests one at a "
                f"time, p50 {1e3 * percentile(done, 0.5):.0f} ms, max "
                f"{1e3 * done[-1]:.0f} ms"
            )
    print(
        "floor = the same uvicorn set-up with an app that only answers a fixed "
        "record, driven alike (HTTP and this machine's scheduling, without the "
        "service); "
        "latency counted from each request's planned send time; lag99 = p99 of how "
        "late the load generator actually sent (part of the latency it caused "
        "itself); cpu/req = server process CPU ms per answered request; client = "
        "the load generator's CPU ms per answered request (a separate process on "
        "the same machine); bare = in-process median CPU ms of score_partners "
        "(prediction + SHAP contributions + reasons) for the same rows, for "
        "score-activity of the whole live pipeline (validate_tables, "
        "build_feature_table, score_partners) without HTTP"
    )
    print(f"server garbage collection per phase: {gc_report}")


def prepared(folder: Path, args: argparse.Namespace) -> Fixture:
    """The fixture kept in ``folder`` by an earlier run, or a freshly prepared one."""
    kept = folder / "fixture.json"
    if kept.is_file():
        print(f"reusing the model and snapshot in {folder}", flush=True)
        return Fixture(**{**json.loads(kept.read_text()), "folder": folder})
    folder.mkdir(parents=True, exist_ok=True)
    fixture = prepare(folder, args.partners, args.months, args.rounds)
    fields = {k: v for k, v in dataclasses.asdict(fixture).items() if k != "folder"}
    kept.write_text(json.dumps(fields))
    return fixture


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def save_phases(path: Path, phases: list[Phase]) -> Path:
    """Write what the load generator sends, for its process to read."""
    text = [
        {
            **dataclasses.asdict(p),
            "request": p.request.decode(),
            "beside": p.beside.decode(),
        }
        for p in phases
    ]
    path.write_text(json.dumps(text))
    return path


def read_phases(path: Path) -> list[Phase]:
    """The phases written by :func:`save_phases`."""
    text = json.loads(path.read_text())
    return [
        Phase(**{**p, "request": p["request"].encode(), "beside": p["beside"].encode()})
        for p in text
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --serve or --drive, be one of its processes)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=500)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=300, help="trees in the model")
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests/s")
    parser.add_argument(
        "--live-seconds",
        type=float,
        default=1.0,
        help="seconds of score-activity at 50 requests/s (0: skip)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="prepare the model and snapshot in this folder once, reuse them later",
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    if args.floor:
        serve_floor(args.floor, args.port)
        return 0
    if args.drive:
        drive_phases(args.port, args.server_pid, read_phases(args.drive))
        return 0
    if args.seconds * args.rate > 20_000:
        parser.error("bounded: --seconds x --rate may be at most 20000 requests")

    print(f"load average before: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        fixture = prepared(args.keep or Path(tmp), args)
        phases = phases_of(fixture, args.seconds, args.rate, args.live_seconds)
        path = save_phases(fixture.folder / "phases.json", phases)
        floor = save_phases(fixture.folder / "floor.json", floor_phases(phases))
        with child_server(fixture.folder, "--floor") as (port, child):
            runs = drive(floor, port, child.pid, child)
        with child_server(fixture.folder) as (port, child):
            runs += drive(path, port, child.pid, child)
        output = child.stdout.read() if child.stdout else ""
    gc_report = next(
        (line for line in output.splitlines() if line.startswith('{"gc"')), "n/a"
    )
    report(runs, fixture, gc_report, best_http())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
