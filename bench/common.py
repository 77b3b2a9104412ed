"""Shared helpers of the benchmarks: the test stack, services as their own processes in schemas
of their own, an open-loop load generator on a tiny HTTP/1.1 client, percentiles, RSS sampling.

Also the baseline server: ``python bench/common.py bare --port N`` serves a FastAPI app with one
POST route that does nothing, with uvicorn, exactly as the services are served (``uvicorn.run``,
``log_config=None``, one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"
PYTHON = BIN / "python"
SERVICES = {  # command -> (env prefix, consumer group, database role)
    "planning": ("PLANNING", "planning", "planning"),
    "observation": ("OBSERVATION", "observation", "observation"),
    "assessment": ("ASSESSMENT", "assessment", "assessment"),
    "predikat": ("PREDIKAT", "predikat", "predikat"),
    "bkn_sync": ("BKN_SYNC", "bkn-sync", "bkn_sync"),
}

# What the benches' teachers write in a plan, and how many teach at each of their schools.
PLAN_CONTENT = {
    "sub_indikator": "D1.1",
    "indikator_kompetensi": "KP.1",
    "tugas_pokok": ["Mengajar IPA kelas VIII"],
    "tugas_tambahan": [],
    "perilaku_fokus": ["KOLABORATIF"],
}
TEACHERS_PER_SCHOOL = 40


# --- machine ---------------------------------------------------------------------------------


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict[str, Any]:
    import platform

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "uptime": uptime(),
    }


def revision() -> dict[str, Any]:
    """The code a figure was measured with: the commit, whether the checkout had uncommitted
    changes (and in which files), and the real date."""
    from datetime import UTC, datetime

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True
        ).stdout.rstrip("\n")

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:]]
    return {
        "revision": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": dirty,
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def log(*parts: object) -> None:
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


# --- the stack and the services ----------------------------------------------------------------


def stack() -> Any:
    from kinerja_tools.testing.stack import ensure_stack

    return ensure_stack()


async def create_schema(admin_dsn: str, schema: str, owner: str) -> None:
    """A schema of the bench's own (the service role may not create one): another engineer's
    process on the default schema never holds our outbox relay lock or reads our rows."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn.rsplit("/", 1)[0] + "/kinerja")
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{owner}"')
    finally:
        await conn.close()


async def drop_schema(admin_dsn: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn.rsplit("/", 1)[0] + "/kinerja")
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def admin_conn(admin_dsn: str) -> Any:
    import asyncpg

    return await asyncpg.connect(admin_dsn.rsplit("/", 1)[0] + "/kinerja")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log: Path
    schema: str | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid


def wait_ready(proc: Proc, path: str = "/readyz", timeout: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log.read_text()[-3000:]}"
            )
        try:
            if httpx.get(f"{proc.url}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{proc.name} not ready after {timeout}s:\n{proc.log.read_text()[-3000:]}")


@dataclass
class Processes:
    """Starts processes and stops them (SIGTERM, then kill) in reverse order on exit."""

    st: Any
    run: str
    logs: Path
    procs: list[Proc] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)
    keep_schemas: bool = False
    # Set on every process started after it (e.g. where the traces go).
    extra_env: dict[str, str] = field(default_factory=dict)

    def run_schema(self, name: str) -> str:
        return f"bench_{self.run}_{SERVICES[name][2]}"

    def base_env(self) -> dict[str, str]:
        env = {**os.environ, **self.st.env, **self.extra_env}
        env.pop("KINERJA_FAILPOINT", None)
        return env

    def service(
        self,
        name: str,
        jwks_url: str,
        *,
        simulator: str = "http://127.0.0.1:9",
        extra: dict[str, str] | None = None,
        wrap: list[str] | None = None,
    ) -> Proc:
        prefix, group, role = SERVICES[name]
        schema = self.run_schema(name)
        asyncio.run(create_schema(self.st.pg_admin_dsn, schema, role))
        self.schemas.append(schema)
        port = free_port()
        env = self.base_env()
        env.update(
            {
                f"{prefix}_HTTP_PORT": str(port),
                f"{prefix}_CONSUMER_GROUP": f"{group}.bench-{self.run}",
                f"{prefix}_DB_SCHEMA": schema,
                f"{prefix}_JWT_JWKS_URL": jwks_url,
                "BKN_SYNC_EKINERJA_URL": simulator,
                "OTEL_SERVICE_NAME": group,
                **(extra or {}),
            }
        )
        subprocess.run([BIN / name, "migrate"], env=env, check=True, capture_output=True)
        log_path = self.logs / f"{name}.log"
        cmd = [*(wrap or []), str(BIN / name), "serve"]
        with log_path.open("wb") as out:
            popen = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        proc = Proc(name, popen, f"http://127.0.0.1:{port}", log_path, schema)
        self.procs.append(proc)
        return proc

    def command(
        self, name: str, cmd: list[str], port: int, extra: dict[str, str] | None = None
    ) -> Proc:
        env = {**self.base_env(), **(extra or {})}
        log_path = self.logs / f"{name}.log"
        with log_path.open("wb") as out:
            popen = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        proc = Proc(name, popen, f"http://127.0.0.1:{port}", log_path)
        self.procs.append(proc)
        return proc

    def bare(self) -> Proc:
        port = free_port()
        return self.command(
            "bare-fastapi", [str(PYTHON), str(Path(__file__)), "bare", "--port", str(port)], port
        )

    def simulator(self) -> Proc:
        port = free_port()
        return self.command(
            "ekinerja-sim",
            [str(BIN / "ekinerja-sim"), "serve", "--port", str(port)],
            port,
            {"OTEL_SERVICE_NAME": "ekinerja-sim"},
        )

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        if not self.keep_schemas:
            for schema in self.schemas:
                with contextlib.suppress(Exception):
                    asyncio.run(drop_schema(self.st.pg_admin_dsn, schema))

    def __enter__(self) -> Processes:
        self.logs.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def new_run_id() -> str:
    return secrets.token_hex(3)


def fresh_groups(bootstrap: str, run: str, names: list[str]) -> None:
    """Commit the end of every topic for the services' fresh groups before they start."""
    from kinerja_tools.testing.groups import start_groups_at_end

    groups = [f"{SERVICES[n][1]}.bench-{run}" for n in names]
    asyncio.run(start_groups_at_end(bootstrap, groups))


# --- a small HTTP/1.1 client --------------------------------------------------------------------


class HttpError(Exception):
    pass


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise HttpError("connection closed")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise HttpError("chunked responses are not supported")
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        payload = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
            raise _Closed(status, payload)
        return status, payload

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _Closed(Exception):
    def __init__(self, status: int, payload: bytes) -> None:
        self.status, self.payload = status, payload


class RawHttp:
    """Keep-alive connections to one host; a request never waits for a free connection (it
    opens a new one), so an open-loop generator stays open-loop. Far cheaper per request than
    httpx, so the generator takes less CPU from the servers it measures on a shared machine."""

    def __init__(self, url: str) -> None:
        host_port = url.removeprefix("http://").rstrip("/")
        self.host, _, port = host_port.partition(":")
        self.port = int(port or 80)
        self._idle: list[tuple[_Conn, float]] = []
        self.opened = 0
        self.timeout = 30.0

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        body = b"" if json_body is None else json.dumps(json_body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if json_body is not None:
            lines.append("content-type: application/json")
        lines.append(f"content-length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        now = time.monotonic()
        conn = None
        while self._idle:
            idle, since = self._idle.pop()
            # uvicorn closes a keep-alive connection after 5 s idle: never reuse one near that.
            if now - since < 2.0:
                conn = idle
                break
            idle.close()
        if conn is None:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=2**20)
            conn = _Conn(reader, writer)
            self.opened += 1
        try:
            result = await asyncio.wait_for(conn.request(head, body), self.timeout)
        except _Closed as closed:
            return closed.status, closed.payload
        except BaseException:
            conn.close()
            raise
        self._idle.append((conn, time.monotonic()))
        return result

    def close(self) -> None:
        for c, _ in self._idle:
            c.close()
        self._idle.clear()


# --- the open-loop generator -------------------------------------------------------------------


@dataclass
class Sample:
    label: str
    scheduled: float  # monotonic time the request was due
    latency: float  # seconds from when it was due to the full response
    status: int  # 0 = transport error
    lag: float  # how late the generator sent it (its own overload shows here)


Request = Callable[[], Awaitable[tuple[str, int]]]


async def open_loop(
    rate: float, duration: float, next_request: Callable[[], Request]
) -> list[Sample]:
    """Issue requests at ``rate`` per second for ``duration`` seconds whatever the responses do
    (open loop). Latency counts from when a request was due, not when it was sent, so the
    generator's own lateness is never hidden (no coordinated omission)."""
    samples: list[Sample] = []
    tasks: set[asyncio.Task[None]] = set()
    t0 = time.monotonic() + 0.05
    n = int(rate * duration)

    async def one(due: float, request: Request) -> None:
        lag = time.monotonic() - due
        try:
            label, status = await request()
        except Exception as exc:
            label, status = f"transport error {type(exc).__name__}: {str(exc)[:60]}", 0
        samples.append(Sample(label, due, time.monotonic() - due, status, lag))

    for i in range(n):
        due = t0 + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(due, next_request()))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        # Requests time out after 30 s (RawHttp.timeout) and count as errors.
        await asyncio.wait(tasks, timeout=40)
        for t in list(tasks):
            t.cancel()
    return samples


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summarize(samples: list[Sample], duration: float, ok: Callable[[int], bool]) -> dict[str, Any]:
    by: dict[str, list[Sample]] = {}
    for s in samples:
        by.setdefault(s.label, []).append(s)
    by["ALL"] = samples
    out: dict[str, Any] = {}
    for label, group in by.items():
        good = [s.latency * 1000 for s in group if ok(s.status)]
        out[label] = {
            "n": len(group),
            "errors": sum(1 for s in group if not ok(s.status)),
            "rate": round(len(group) / duration, 1),
            "p50_ms": round(pct(good, 50), 2),
            "p99_ms": round(pct(good, 99), 2),
            "max_ms": round(max(good), 2) if good else float("nan"),
            "gen_lag_p99_ms": round(pct([s.lag * 1000 for s in group], 99), 2),
        }
    return out


# --- memory ------------------------------------------------------------------------------------


class RssSampler:
    """Samples the RSS of some processes every ``interval`` seconds in a thread."""

    def __init__(self, pids: dict[str, int], interval: float = 10.0) -> None:
        import psutil

        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.interval = interval
        self.samples: dict[str, list[tuple[float, float]]] = {n: [] for n in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def _sample(self) -> None:
        now = time.monotonic() - self._t0
        for name, p in self._procs.items():
            with contextlib.suppress(Exception):
                rss = p.memory_info().rss
                for child in p.children(recursive=True):
                    with contextlib.suppress(Exception):
                        rss += child.memory_info().rss
                self.samples[name].append((now, rss / 2**20))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def report(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, pts in self.samples.items():
            if len(pts) < 2:
                continue
            xs = [t / 60 for t, _ in pts]
            ys = [v for _, v in pts]
            slope = statistics.linear_regression(xs, ys).slope
            # The second half alone: warm-up (caches, pools, allocator arenas) is over by then.
            half = [(x, y) for x, y in zip(xs, ys, strict=True) if x >= xs[-1] / 2]
            slope2 = (
                statistics.linear_regression([x for x, _ in half], [y for _, y in half]).slope
                if len(half) >= 2
                else float("nan")
            )
            out[name] = {
                "samples": len(pts),
                "start_mb": round(ys[0], 1),
                "end_mb": round(ys[-1], 1),
                "max_mb": round(max(ys), 1),
                "slope_mb_per_min": round(slope, 3),
                "slope_2nd_half_mb_per_min": round(slope2, 3),
            }
        return out


@contextlib.contextmanager
def timed(what: str) -> Iterator[None]:
    t = time.monotonic()
    yield
    log(f"{what}: {time.monotonic() - t:.1f}s")


# --- the baseline server -----------------------------------------------------------------------


def bare_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/noop")
    async def noop() -> dict[str, str]:
        return {}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(), host="127.0.0.1", port=port, log_config=None)


def _profile(out: str, script: str, argv: list[str]) -> None:
    """Run a console script (e.g. .venv/bin/planning serve) under pyinstrument; the text report
    is written when the process stops (SIGTERM → uvicorn's graceful shutdown)."""
    import runpy

    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    sys.argv = [script, *argv]
    # uvicorn re-raises the SIGTERM it handled once it has shut down: end normally instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler.start()
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        pass
    finally:
        profiler.stop()
        Path(out).write_text(profiler.output_text(unicode=True, show_all=False))
        Path(out).with_suffix(".html").write_text(profiler.output_html())


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["bare", "profile"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--out")
    args, rest = parser.parse_known_args()
    args.rest = [r for r in rest if r != "--"]
    if args.what == "bare":
        _serve_bare(args.port)
    else:
        _profile(args.out, args.rest[0], args.rest[1:])
