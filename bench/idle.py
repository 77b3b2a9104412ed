"""What an idle stack costs: CPU of the five services and the simulator with nothing to do, and
the traces they send while idle.

All five services and ``ekinerja-sim`` run as their own processes (schemas of their own, fresh
consumer groups at the end of every topic, the test stack's Kafka and PostgreSQL), with
``make run``'s tracing (every span exported, Zipkin format) pointed at a span counter in this
script instead of Zipkin, so the traces an idle stack sends are counted exactly. After start-up
the bench waits until the services' CPU settles, then measures ``--seconds`` of idling: CPU
seconds of each process (from /proc via psutil) ÷ wall seconds = cores.

Usage:  .venv/bin/python bench/idle.py [--seconds 60] [--json bench/results/idle.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    REPO,
    SERVICES,
    Processes,
    free_port,
    fresh_groups,
    log,
    machine,
    new_run_id,
    revision,
    stack,
    wait_ready,
)


class SpanCounter:
    """A Zipkin v2 endpoint that counts what it is sent: spans, traces, span names."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans = 0
        self.traces: set[str] = set()
        self.names: Counter[str] = Counter()
        self.roots: Counter[str] = Counter()
        self.port = free_port()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with contextlib.suppress(ValueError):
                    counter.add(json.loads(body))
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2/spans"

    def add(self, spans: list[dict[str, Any]]) -> None:
        with self.lock:
            for span in spans:
                self.spans += 1
                self.traces.add(span.get("traceId", ""))
                service = span.get("localEndpoint", {}).get("serviceName", "?")
                self.names[f"{service}: {span.get('name', '?')}"] += 1
                if "parentId" not in span:  # a trace's first span: what started it
                    self.roots[f"{service}: {span.get('name', '?')}"] += 1

    def reset(self) -> tuple[int, int, Counter[str], Counter[str]]:
        with self.lock:
            out = (self.spans, len(self.traces), self.names, self.roots)
            self.spans, self.traces, self.names, self.roots = 0, set(), Counter(), Counter()
            return out


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    import psutil

    out: dict[str, float] = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            # The service's own process and anything it started (none today).
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                out[name] = out.get(name, 0.0) + t.user + t.system
    return out


def measure_cores(pids: dict[str, int], seconds: float) -> dict[str, float]:
    before, t0 = cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    after, wall = cpu_seconds(pids), time.monotonic() - t0
    return {name: (after[name] - before[name]) / wall for name in pids}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from kinerja_shared.auth.devtoken import DevIdentityProvider

    st = stack()
    idp = DevIdentityProvider(Path(st.env["KINERJA_DEV_IDP_DIR"]))
    run_id = new_run_id()
    logs = REPO / ".local" / "bench" / f"idle-{run_id}"
    counter = SpanCounter()
    tracing = {
        "OTEL_TRACES_EXPORTER": "zipkin",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": counter.url,
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "1000",
    }
    report: dict[str, Any] = {
        "bench": "idle",
        "command": "bench/idle.py " + " ".join(sys.argv[1:]),
        **revision(),
        "seconds": args.seconds,
        "config": "local (make run): every span exported to Zipkin, log level INFO",
        "machine_before": machine(),
    }
    log("run", run_id, "logs", logs)
    with Processes(st, run_id, logs) as procs:
        procs.extra_env = tracing
        sim = procs.simulator()
        wait_ready(sim, "/healthz")
        fresh_groups(st.kafka_bootstrap, run_id, list(SERVICES))
        started = {
            name: procs.service(name, idp.jwks_url, simulator=sim.url, extra=tracing)
            for name in SERVICES
        }
        for proc in started.values():
            wait_ready(proc)
        pids = {name: p.pid for name, p in started.items()} | {"ekinerja_sim": sim.pid}
        # Start-up work (consumer groups joining, first relay rounds) is not idling.
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.settle_limit:
            if sum(measure_cores(pids, 3).values()) < args.settled_cores:
                break
        report["settle_seconds"] = round(time.monotonic() - t0, 1)
        time.sleep(2)  # the exporters' last start-up batch
        counter.reset()
        cores = measure_cores(pids, args.seconds)
        time.sleep(2)  # spans of the window still in an exporter's batch
        spans, traces, names, roots = counter.reset()
    services = {k: v for k, v in cores.items() if k in SERVICES}
    report |= {
        "cores": {k: round(v, 4) for k, v in cores.items()},
        "services_cores_total": round(sum(services.values()), 4),
        "target_services_cores_total": 0.05,
        "spans_per_minute": round(spans * 60 / args.seconds, 1),
        "traces_per_minute": round(traces * 60 / args.seconds, 1),
        # Other engineers' traffic on the shared topics reaches the services too: the traces
        # it starts are told by their roots (a consumer's "process", a server's request).
        "root_span_names": dict(roots.most_common(20)),
        "span_names": dict(names.most_common(20)),
        "machine_after": machine(),
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="the idle window measured")
    parser.add_argument("--settled-cores", type=float, default=0.2)
    parser.add_argument("--settle-limit", type=float, default=60)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = run(args)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.set_event_loop_policy(None)
        main()
