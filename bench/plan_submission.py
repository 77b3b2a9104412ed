"""Plan submission under an open-loop load: POST /plans (Guru), /submit (Guru), /approve (KS).

planning runs as its own process (schema and consumer group of its own, started at the end of
every topic) after a roster of schools of 40 teachers and a Kepala Sekolah each was published
and reached its projection. Beside it, in the same run and at the same rates, a bare FastAPI app
(one POST route doing nothing, uvicorn, one process) is driven by the same generator: the ratio
planning/bare is the figure to compare across machines.

The generator issues requests at a fixed arrival rate (open loop): request i is due at
t0 + i/rate whatever earlier responses did; it approves a submitted plan if there is one, else
submits a created plan, else creates a new plan, so the mix settles at ~1:1:1. Latency counts
from when a request was due (no coordinated omission).

A teacher has one plan per period (V-09), so the bench serves planning a periods file with
``--periods`` extra periods open today (``KINERJA_PERIODS_FILE``, plain configuration): each
teacher can then write that many plans and the roster stays small.

    set -a && source .local/test/env && set +a
    .venv/bin/python bench/plan_submission.py                      # 100/s for 60 s, then steps
    .venv/bin/python bench/plan_submission.py --soak 600           # RSS of planning for 10 min
    .venv/bin/python bench/plan_submission.py --profile --rate 100 --duration 30 --steps ""
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import (
    PLAN_CONTENT,
    PYTHON,
    REPO,
    TEACHERS_PER_SCHOOL,
    Processes,
    RawHttp,
    RssSampler,
    admin_conn,
    fresh_groups,
    log,
    machine,
    new_run_id,
    open_loop,
    revision,
    stack,
    summarize,
    timed,
    uptime,
    wait_ready,
)


def nip(rng: random.Random, used: set[str]) -> str:
    while True:
        born = date(1965, 1, 1) + timedelta(days=rng.randrange(0, 30 * 365))
        tmt = f"{min(born.year + rng.randint(22, 30), 2024)}{rng.randint(1, 12):02d}"
        n = f"{born:%Y%m%d}{tmt}{rng.choice('12')}{rng.randint(1, 999):03d}"
        if n not in used:
            used.add(n)
            return n


def roster(teachers: int, seed: int) -> tuple[list[Any], list[Any], list[tuple[str, str, str]]]:
    """Schools of 40 teachers and a Kepala Sekolah; returns (sekolah, pegawai, (guru, ks, npsn))."""
    from kinerja_shared.events.roster import Pegawai, Sekolah, StatusKepegawaian

    rng = random.Random(seed)
    used: set[str] = set()
    schools, people, pairs = [], [], []
    for i in range((teachers + TEACHERS_PER_SCHOOL - 1) // TEACHERS_PER_SCHOOL):
        npsn = f"{rng.randint(10_000_000, 99_999_999)}"
        schools.append(Sekolah(npsn=npsn, nama=f"SMP Negeri {i + 1} Bench", kode_wilayah="3171"))
        ks = Pegawai(
            nip=nip(rng, used),
            nama="Kepala Bench",
            npsn=npsn,
            jenis_ptk="Kepala Sekolah",
            status_kepegawaian=StatusKepegawaian.PNS,
            kode_wilayah="3171",
        )
        people.append(ks)
        for j in range(min(TEACHERS_PER_SCHOOL, teachers - i * TEACHERS_PER_SCHOOL)):
            g = Pegawai(
                nip=nip(rng, used),
                nama=f"Guru Bench {j}",
                npsn=npsn,
                jenis_ptk="Guru Mapel",
                status_kepegawaian=StatusKepegawaian.PNS,
                kode_wilayah="3171",
                atasan_nip=ks.nip,
            )
            people.append(g)
            pairs.append((g.nip, ks.nip, npsn))
    return schools, people, pairs


def periods_file(path: Path, extra: int) -> list[str]:
    """The shipped periods plus ``extra`` copies of the period whose planning is open today,
    under ids of their own; the copy is loaded with the service's own loader to check it."""
    from importlib import resources

    from kinerja_shared.periods import load_calendar, wib_day

    data = json.loads(
        resources.files("kinerja_shared").joinpath("data", "periods.json").read_text("utf-8")
    )
    calendar = load_calendar(None)
    today = wib_day(datetime.now(UTC))  # planning's "today" is a WIB calendar day
    open_now = calendar.open_for("plan", today)[-1]
    template = next(p for p in data["periods"] if p["period_id"] == open_now.period_id)
    ids = []
    for k in range(extra):
        pid = f"{open_now.period_id}-B{k + 1:02d}"
        ids.append(pid)
        year = 2100 + k  # periods may not overlap; their plan windows may (open today)
        data["periods"].append(
            {
                **template,
                "period_id": pid,
                "label": f"Bench {k + 1}",
                "start": f"{year}-01-01",
                "end": f"{year}-12-31",
                "stage_windows": {"plan": template["stage_windows"]["plan"]},
            }
        )
    path.write_text(json.dumps(data))
    assert all(load_calendar(path).is_open(pid, "plan", today) for pid in ids)
    return ids or [open_now.period_id]


class PlanFlow:
    """Chooses each next request: approve if a plan waits for it, else submit, else create."""

    def __init__(
        self,
        http: RawHttp,
        slots: list[tuple[str, str]],
        tokens: dict[str, str],
        pairs: dict[str, tuple[str, str]],
    ) -> None:
        self.http = http
        self.slots = collections.deque(slots)  # (guru nip, period id) not yet planned
        self.tokens = tokens
        self.pairs = pairs  # guru nip -> (ks nip, npsn)
        self.created: collections.deque[tuple[str, str]] = collections.deque()
        self.submitted: collections.deque[tuple[str, str]] = collections.deque()
        self.unexpected: collections.Counter[str] = collections.Counter()
        self.pid = 0

    def _auth(self, nip: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[nip]}"}

    def next(self) -> Any:
        if self.submitted:
            plan_id, guru = self.submitted.popleft()
            return lambda: self._approve(plan_id, guru)
        if self.created:
            plan_id, guru = self.created.popleft()
            return lambda: self._submit(plan_id, guru)
        guru, period = self.slots.popleft()
        return lambda: self._create(guru, period)

    def _note(self, label: str, status: int, body: bytes) -> None:
        if status >= 300:
            self.unexpected[f"{label} {status} {body[:120]!r}"] += 1

    async def _create(self, guru: str, period: str) -> tuple[str, int]:
        status, body = await self.http.request(
            "POST",
            "/plans",
            json_body={**PLAN_CONTENT, "period_id": period},
            headers=self._auth(guru),
        )
        self._note("create", status, body)
        if status == 201:
            self.created.append((json.loads(body)["plan_id"], guru))
        return "POST /plans", status

    async def _submit(self, plan_id: str, guru: str) -> tuple[str, int]:
        status, body = await self.http.request(
            "POST", f"/plans/{plan_id}/submit", json_body={}, headers=self._auth(guru)
        )
        self._note("submit", status, body)
        if status == 200:
            self.submitted.append((plan_id, guru))
        return "POST /plans/{id}/submit", status

    async def _approve(self, plan_id: str, guru: str) -> tuple[str, int]:
        ks = self.pairs[guru][0]
        status, body = await self.http.request(
            "POST", f"/plans/{plan_id}/approve", json_body={}, headers=self._auth(ks)
        )
        self._note("approve", status, body)
        return "POST /plans/{id}/approve", status


class Bare:
    def __init__(self, http: RawHttp, pid: int) -> None:
        self.http = http
        self.pid = pid

    def next(self) -> Any:
        async def noop() -> tuple[str, int]:
            status, _ = await self.http.request("POST", "/noop", json_body={})
            return "POST /noop (bare)", status

        return noop


def ok(status: int) -> bool:
    return 200 <= status < 300


def cpu_seconds(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


async def phase(name: str, driver: Any, rate: float, duration: float) -> dict[str, Any]:
    t = time.monotonic()
    cpu0 = cpu_seconds(driver.pid)
    samples = await open_loop(rate, duration, driver.next)
    elapsed = time.monotonic() - t
    cpu = cpu_seconds(driver.pid) - cpu0
    result = summarize(samples, duration, ok)
    a = result["ALL"]
    done = sum(1 for s in samples if ok(s.status))
    cpu_ms = round(cpu * 1000 / done, 2) if done else None
    log(
        f"{name} @{rate}/s: n={a['n']} err={a['errors']} p50={a['p50_ms']} p99={a['p99_ms']} "
        f"cpu/request={cpu_ms} ms (took {elapsed:.1f}s)"
    )
    return {
        "target": name,
        "rate": rate,
        "duration": duration,
        "endpoints": result,
        "server_cpu_ms_per_ok_request": cpu_ms,
        "server_cpu_s": round(cpu, 2),
    }


async def wait_roster(admin_dsn: str, schema: str, n: int, timeout: float = 600) -> float:
    conn = await admin_conn(admin_dsn)
    t = time.monotonic()
    try:
        while time.monotonic() - t < timeout:
            got = await conn.fetchval(f'SELECT count(*) FROM "{schema}".roster_pegawai')
            if got >= n:
                return time.monotonic() - t
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    raise TimeoutError(f"roster projection has {got} of {n}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teachers", type=int, default=2000)
    parser.add_argument(
        "--periods", type=int, default=12, help="extra open periods (plans per teacher)"
    )
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument(
        "--steps",
        default="25,50,75,125,150,200,300",
        help="rates to step through after the main phase ('' = none)",
    )
    parser.add_argument("--step-duration", type=float, default=20)
    parser.add_argument("--p99-limit-ms", type=float, default=250)
    parser.add_argument("--soak", type=float, default=0, help="seconds at --rate sampling RSS")
    parser.add_argument("--rss-interval", type=float, default=10)
    parser.add_argument("--profile", action="store_true", help="run planning under pyinstrument")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    from kinerja_shared.auth.devtoken import DevIdentityProvider
    from kinerja_shared.roster.publish import publish_roster

    st = stack()
    idp = DevIdentityProvider(Path(st.env["KINERJA_DEV_IDP_DIR"]))
    run = new_run_id()
    logs = REPO / ".local" / "bench" / f"plan-{run}"
    report: dict[str, Any] = {
        "run": run,
        "command": f"bench/{Path(__file__).name} " + " ".join(sys.argv[1:]),
        **revision(),
        "args": vars(args),
        "machine_before": machine(),
    }
    log("run", run, "logs", logs, "|", uptime())
    with Processes(st, run, logs) as procs:
        period_ids = periods_file(logs / "periods.json", args.periods)
        fresh_groups(st.kafka_bootstrap, run, ["planning"])
        wrap = None
        if args.profile:
            wrap = [
                str(PYTHON),
                str(REPO / "bench" / "common.py"),
                "profile",
                "--out",
                str(logs / "planning-profile.txt"),
                "--",
            ]
        planning = procs.service(
            "planning",
            idp.jwks_url,
            extra={"KINERJA_PERIODS_FILE": str(logs / "periods.json")},
            wrap=wrap,
        )
        bare = procs.bare()
        wait_ready(planning)
        wait_ready(bare, "/healthz")
        schools, people, pairs = roster(args.teachers, args.seed or random.randrange(2**32))
        with timed("roster published"):
            asyncio.run(publish_roster(st.kafka_bootstrap, schools, people))
        took = asyncio.run(wait_roster(st.pg_admin_dsn, planning.schema or "", len(people)))
        report["roster"] = {
            "schools": len(schools),
            "pegawai": len(people),
            "projection_seconds": round(took, 1),
        }
        log(f"roster in planning's projection after {took:.1f}s")
        with timed("tokens minted"):
            tokens = {
                p.nip: idp.mint(
                    role="kepala_sekolah" if p.atasan_nip is None else "guru",
                    nip=p.nip,
                    npsn=p.npsn,
                    ttl=3600,  # the services accept at most an hour (exp - iat)
                )
                for p in people
            }
        slots = [(g, pid) for pid in period_ids for g, _, _ in pairs]
        pair_of = {g: (k, n) for g, k, n in pairs}
        report["planning_pid"] = planning.pid
        report["phases"] = asyncio.run(drive(args, planning, bare, slots, tokens, pair_of, report))
        report["machine_after"] = machine()
    log("done |", uptime())
    (logs / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))
    print(markdown(report))


async def drive(
    args: Any,
    planning: Any,
    bare: Any,
    slots: list[tuple[str, str]],
    tokens: dict[str, str],
    pairs: dict[str, tuple[str, str]],
    report: dict[str, Any],
) -> list[dict[str, Any]]:
    p_http, b_http = RawHttp(planning.url), RawHttp(bare.url)
    flow = PlanFlow(p_http, slots, tokens, pairs)
    flow.pid = planning.pid
    b = Bare(b_http, bare.pid)
    phases = []
    # Warm-up (not reported): connections, caches, the JIT-less interpreter's first calls.
    await open_loop(30, 5, b.next)
    await open_loop(30, 5, flow.next)
    if args.soak:
        with RssSampler({"planning": planning.pid}, args.rss_interval) as rss:
            phases.append(await phase("planning", flow, args.rate, args.soak))
        report["rss"] = rss.report()
        report["rss_samples"] = rss.samples
        report["unexpected"] = dict(flow.unexpected.most_common(10))
        return phases
    phases.append(await phase("bare", b, args.rate, args.duration))
    await asyncio.sleep(3)
    phases.append(await phase("planning", flow, args.rate, args.duration))
    await asyncio.sleep(10)  # let a backlog drain before stepping
    for rate in [float(r) for r in args.steps.split(",") if r.strip()]:
        if len(flow.slots) < rate * args.step_duration:
            log("out of teacher×period slots; stop stepping")
            break
        phases.append(await phase("bare", b, rate, args.step_duration))
        await asyncio.sleep(3)
        p = await phase("planning", flow, rate, args.step_duration)
        phases.append(p)
        a = p["endpoints"]["ALL"]
        if a["errors"] or a["p99_ms"] > args.p99_limit_ms:
            log(f"planning degraded at {rate}/s; stop stepping")
            break
        await asyncio.sleep(3)
    report["unexpected"] = dict(flow.unexpected.most_common(10))
    report["connections_opened"] = {"planning": p_http.opened, "bare": b_http.opened}
    p_http.close()
    b_http.close()
    return phases


def markdown(report: dict[str, Any]) -> str:
    rows = [
        "| target | rate/s | endpoint | n | errors | p50 ms | p99 ms | max ms | p99 ÷ bare p99 "
        "| server CPU ms/request |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    bare_p99: dict[float, float] = {}
    for p in report.get("phases", []):
        if p["target"] == "bare":
            bare_p99[p["rate"]] = p["endpoints"]["ALL"]["p99_ms"]
    for p in report.get("phases", []):
        for ep, s in p["endpoints"].items():
            if p["target"] == "bare" and ep == "ALL":
                continue
            base = bare_p99.get(p["rate"])
            cpu = p.get("server_cpu_ms_per_ok_request", "")
            ratio = f"{s['p99_ms'] / base:.1f}×" if base and p["target"] != "bare" else ""
            rows.append(
                f"| {p['target']} | {p['rate']:g} | {ep} | {s['n']} | {s['errors']} | "
                f"{s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} | {ratio} | "
                f"{cpu if ep == 'ALL' or p['target'] == 'bare' else ''} |"
            )
    if "rss" in report:
        rows.append("")
        rows.append(
            "| process | samples | start MB | end MB | max MB | slope MB/min | 2nd-half slope |"
        )
        rows.append("|---|---|---|---|---|---|---|")
        for name, r in report["rss"].items():
            rows.append(
                f"| {name} | {r['samples']} | {r['start_mb']} | {r['end_mb']} | "
                f"{r['max_mb']} | {r['slope_mb_per_min']} | {r['slope_2nd_half_mb_per_min']} |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
