"""The whole flow under chaos (bench/chaos.py): every service a process, the SKP coming from
planning, and the kills aimed at each service while it has work in flight.

- ``WholeSystem``: tests/resilience/harness.py's ``System`` (bkn-sync replicas, predikat) plus
  ``planning serve``, ``observation serve`` and ``assessment serve``, each migrated first, in a
  schema of its own on the run's PostgreSQL, with consumer groups of the run's own started at
  the end of every topic.
- ``roster``: schools of 40 teachers under a Kepala Sekolah, or under a Plt. (every other
  school), published to the roster topics as Dapodik's import would.
- ``PlanDriver``: each teacher writes, submits and agrees a plan through planning's HTTP API
  (the Kepala Sekolah approves; under a Plt. planning approves at once), with tokens of the
  run's own identity provider. Every step is retried until planning answers, and an answer
  that the step was already done (V-09 already planned, a state conflict) is read back from
  planning: a kill mid-submission loses nothing and repeats nothing. Paced by bkn-sync: at
  most ``lead`` teachers are started ahead of the SKPs delivered, so plans are agreed (and
  observation and assessment busy) for the whole run, not only its first minute.
- ``Progress``: what each service has done, and the evidence that it has work in flight.
- ``flow_verdict``: one plan per teacher agreed with one PlanAgreed, and observation and
  assessment each holding exactly one row per teacher, for the plan and version agreed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from common import PLAN_CONTENT, TEACHERS_PER_SCHOOL
from harness import (
    Service,
    System,
    Work,
    free_port,
    migrate,
    nip,
)

from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_shared.events.roster import Pegawai, Sekolah, StatusKepegawaian
from kinerja_shared.periods import load_calendar, wib_day
from kinerja_shared.roster.publish import publish_roster
from kinerja_shared.topics import PLAN_AGREED
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.groups import start_groups_at_end

# The services a kill is aimed at, in turn; "relay leader" is whichever bkn-sync replica leads
# the outbox relay at the time.
UPSTREAM = ("planning", "observation", "assessment")
KILL_TARGETS = (*UPSTREAM, "predikat", "bkn_sync-1", "bkn_sync-2", "relay leader")


def plan_period() -> str:
    """The period planning takes plans for today (the shipped calendar, or the one
    ``KINERJA_PERIODS_FILE`` names for every service)."""
    today = wib_day(datetime.now(UTC))
    open_now = load_calendar(None).open_for("plan", today)
    if not open_now:
        raise RuntimeError(f"no period is open for planning on {today}: set KINERJA_PERIODS_FILE")
    return open_now[0].period_id


# --- the system ------------------------------------------------------------------------------


@dataclass
class WholeSystem(System):
    """Every service as a process: planning, observation and assessment beside the bkn-sync
    replicas and predikat."""

    planning: Service | None = None
    observation: Service | None = None
    assessment: Service | None = None

    def schema(self, service: str) -> str:
        return f"{service}_r{self.tag}"

    def group(self, service: str) -> str:
        return f"{service}.res-{self.tag}"

    def flow_env(self, service: str, **extra: str) -> dict[str, str]:
        prefix = service.upper()
        env = {k: v for k, v in os.environ.items() if k != "KINERJA_FAILPOINT"}
        env.update(
            {
                f"{prefix}_DATABASE_URL": self.pg.dsn,
                f"{prefix}_DB_SCHEMA": self.schema(service),
                f"{prefix}_CONSUMER_GROUP": self.group(service),
                f"{prefix}_KAFKA_BOOTSTRAP": self.bootstrap,
                f"{prefix}_JWT_JWKS_URL": self.jwks_url,
                f"{prefix}_OUTBOX_POLL_SECONDS": "0.2",
                "OTEL_TRACES_EXPORTER": "none",
                **extra,
            }
        )
        return env

    async def prepare(
        self, bkn_replicas: int = 1, *, with_predikat: bool = True, **bkn_extra: str
    ) -> None:
        await super().prepare(bkn_replicas, with_predikat=with_predikat, **bkn_extra)
        for service in UPSTREAM:
            migrate(service, self.flow_env(service))
        await start_groups_at_end(self.bootstrap, [self.group(s) for s in UPSTREAM])
        for service in UPSTREAM:
            port = free_port()
            env = self.flow_env(service, **{f"{service.upper()}_HTTP_PORT": str(port)})
            log = self.logs / f"{service}.log"
            setattr(self, service, Service(service, service, env, log, port))

    @property
    def services(self) -> list[Service]:
        upstream = [s for s in (self.planning, self.observation, self.assessment) if s]
        return [*upstream, *super().services]

    def named(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)


# --- the roster ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Teacher:
    nip: str
    npsn: str
    atasan: str
    plt: bool


def roster(teachers: int, rng: random.Random) -> tuple[Work, list[Sekolah], list[Pegawai]]:
    """The work (one SKP and one predikat per teacher) and its roster: schools of 40 teachers,
    every even school under a Kepala Sekolah, every odd one under a Plt. only."""
    schools = (teachers + TEACHERS_PER_SCHOOL - 1) // TEACHERS_PER_SCHOOL
    salt = rng.randint(0, 10_000)
    nips = [nip(i, salt) for i in range(teachers + schools)]
    sekolah, pegawai = [], []
    for s in range(schools):
        npsn = f"{20_100_000 + s:08d}"
        plt = s % 2 == 1
        head = nips[teachers + s]
        sekolah.append(Sekolah(npsn=npsn, nama=f"SMP Negeri {s + 1} Chaos", kode_wilayah="3171"))
        pegawai.append(
            Pegawai(
                nip=head, nama=f"{'Plt. ' if plt else ''}Kepala Chaos {s + 1}", npsn=npsn,
                jenis_ptk="Guru Mapel" if plt else "Kepala Sekolah",
                status_kepegawaian=StatusKepegawaian.PNS, kode_wilayah="3171",
            )
        )  # fmt: skip
        for n in nips[s * TEACHERS_PER_SCHOOL : min(teachers, (s + 1) * TEACHERS_PER_SCHOOL)]:
            pegawai.append(
                Pegawai(
                    nip=n, nama="Guru Chaos", npsn=npsn, jenis_ptk="Guru Mapel",
                    status_kepegawaian=StatusKepegawaian.PNS, kode_wilayah="3171",
                    atasan_nip=head, atasan_plt=plt,
                )
            )  # fmt: skip
    return Work(nips[:teachers], period=plan_period()), sekolah, pegawai


async def publish(system: WholeSystem, sekolah: list[Sekolah], pegawai: list[Pegawai]) -> None:
    """Dapodik's import onto the cluster; returns once planning's projection holds it all."""
    await publish_roster(system.bootstrap, sekolah, pegawai)

    async def projected() -> bool:
        with contextlib.suppress(Exception):
            rows = await system.pg.fetch(
                f'SELECT count(*) AS n FROM "{system.schema("planning")}".roster_pegawai'
            )
            return int(rows[0]["n"]) >= len(pegawai)
        return False

    await wait_for(projected, timeout=600, interval=0.5, what="the roster in planning")


# --- the teachers, through planning's API ----------------------------------------------------


@dataclass
class PlanDriver:
    """Each teacher's plan written, submitted, approved and agreed through planning's API."""

    system: WholeSystem
    work: Work
    teachers: list[Teacher]
    idp: DevIdentityProvider
    lead: int
    workers: int = 4
    in_flight: int = 0
    started: int = 0
    agreed: dict[str, tuple[str, int]] = field(default_factory=dict)  # nip -> (plan, version)
    answers: Counter[str] = field(default_factory=Counter)
    _skp_delivered: int = 0
    _task: asyncio.Task[None] | None = None
    _http: httpx.AsyncClient | None = None

    @classmethod
    def of(
        cls,
        system: WholeSystem,
        work: Work,
        pegawai: list[Pegawai],
        idp: DevIdentityProvider,
        lead: int,
        workers: int,
    ) -> PlanDriver:
        mine = set(work.nips)
        teachers = [
            Teacher(p.nip, p.npsn, p.atasan_nip or "", p.atasan_plt)
            for p in pegawai
            if p.nip in mine
        ]
        return cls(system, work, teachers, idp, lead, workers)

    @property
    def url(self) -> str:
        assert self.system.planning is not None
        return self.system.planning.url

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def check(self) -> None:
        """Raises what stopped the driver, if it stopped on an error."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            error = self._task.exception()
            if error is not None:
                raise error

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    async def finish(self, timeout: float) -> None:
        assert self._task is not None
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        queue: asyncio.Queue[Teacher] = asyncio.Queue()
        for t in self.teachers:
            queue.put_nowait(t)
        pacer = asyncio.create_task(self._pace())
        limits = httpx.Limits(max_connections=self.workers * 2)
        try:
            async with httpx.AsyncClient(timeout=20, limits=limits) as http:
                self._http = http
                async with asyncio.TaskGroup() as group:
                    for _ in range(self.workers):
                        group.create_task(self._worker(queue))
        finally:
            pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pacer

    async def _pace(self) -> None:
        """Samples the SKPs delivered, twice a second for as long as the driver runs; a sample
        missed (PostgreSQL away) keeps the last."""
        while True:
            with contextlib.suppress(Exception):
                rows = await self.system.pg.fetch(
                    f'SELECT count(*) AS n FROM "{self.system.bkn_schema}".deliveries '
                    "WHERE kind = 'SKP' AND state = 'DELIVERED' AND nip = ANY($1::text[])",
                    self.work.nips,
                )
                self._skp_delivered = int(rows[0]["n"])
            await asyncio.sleep(0.5)

    async def _worker(self, queue: asyncio.Queue[Teacher]) -> None:
        while not queue.empty():
            teacher = queue.get_nowait()
            await wait_for(
                self._may_start,
                timeout=3600,
                interval=0.2,
                what=f"{self.lead} teachers ahead of the SKPs delivered",
            )
            self.started += 1
            plan = await self._agree(teacher)
            self.agreed[teacher.nip] = (plan["plan_id"], plan["version"])

    async def _may_start(self) -> bool:
        return self.started - self._skp_delivered < self.lead

    # -- one teacher ----------------------------------------------------------------------

    def _as(self, role: str, nip: str, npsn: str) -> dict[str, str]:
        token = self.idp.mint(role=role, nip=nip, npsn=npsn, ttl=3600)
        return {"authorization": f"Bearer {token}"}

    async def _call(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> httpx.Response | None:
        """The answer, or None when planning did not give one (killed, restarting)."""
        assert self._http is not None
        self.in_flight += 1
        try:
            return await self._http.request(method, f"{self.url}{path}", json=body, headers=headers)
        except httpx.HTTPError as exc:
            self.answers[f"no answer ({type(exc).__name__})"] += 1
            return None
        finally:
            self.in_flight -= 1

    async def _agree(self, t: Teacher) -> dict[str, Any]:
        guru = self._as("guru", t.nip, t.npsn)
        plan: dict[str, Any] = await wait_for(
            lambda: self._created(t, guru), timeout=900, interval=0.5, what=f"{t.nip}'s plan"
        )
        while plan["state"] != "DISEPAKATI":
            plan = await wait_for(
                lambda p=plan: self._advanced(t, guru, p),
                timeout=900,
                interval=0.5,
                what=f"{t.nip}'s plan past {plan['state']}",
            )
        return plan

    async def _created(self, t: Teacher, guru: dict[str, str]) -> dict[str, Any] | None:
        r = await self._call(
            "POST", "/plans", guru, {**PLAN_CONTENT, "period_id": self.work.period}
        )
        if r is None:
            return None
        self.answers[f"create {r.status_code}"] += 1
        if r.status_code == 201:
            created: dict[str, Any] = r.json()
            return created
        code = _code(r)
        if r.status_code == 409 and code == "V-09":
            # Created before, its answer lost with the process that gave it: read it back.
            return await self._own_plan(t, guru)
        if r.status_code >= 500 or code == "PEGAWAI_NOT_FOUND":
            return None
        raise AssertionError(f"POST /plans for {t.nip}: {r.status_code} {r.text[:300]}")

    async def _own_plan(self, t: Teacher, guru: dict[str, str]) -> dict[str, Any] | None:
        r = await self._call("GET", f"/plans?period_id={self.work.period}", guru)
        if r is None or r.status_code != 200:
            return None
        mine = [p for p in r.json() if p["nip"] == t.nip]
        return mine[0] if mine else None

    async def _advanced(
        self, t: Teacher, guru: dict[str, str], plan: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The plan one step further, or as planning now holds it; None: ask again."""
        state, plan_id = plan["state"], plan["plan_id"]
        if state == "DRAF":
            step, who = "submit", guru
        elif state == "DIAJUKAN" and not t.plt:
            step, who = "approve", self._as("kepala_sekolah", t.atasan, t.npsn)
        elif state == "DISETUJUI":
            step, who = "agree", guru
        else:
            raise AssertionError(f"{t.nip}'s plan is {state}: {plan}")
        r = await self._call("POST", f"/plans/{plan_id}/{step}", who, {})
        if r is not None:
            self.answers[f"{step} {r.status_code}"] += 1
            if r.status_code == 200:
                moved: dict[str, Any] = r.json()
                return moved
            if r.status_code < 500 and _code(r) != "PLAN_STATE_CONFLICT":
                raise AssertionError(f"{step} {t.nip}: {r.status_code} {r.text[:300]}")
        # No answer, 5xx, or done already (the answer lost with a killed process): read back.
        got = await self._call("GET", f"/plans/{plan_id}", guru)
        if got is None or got.status_code != 200:
            return None
        now: dict[str, Any] = got.json()
        return now


def _code(r: httpx.Response) -> str | None:
    with contextlib.suppress(ValueError):
        body = r.json()
        if isinstance(body, dict):
            code = body.get("code")
            return str(code) if code is not None else None
    return None


# --- progress and work in flight -------------------------------------------------------------


@dataclass
class Progress:
    """What each service has done so far, from its own rows."""

    system: WholeSystem
    work: Work
    driver: PlanDriver

    async def _count(self, sql: str, *args: Any) -> int:
        rows = await self.system.pg.fetch(sql, *args)
        return int(rows[0]["n"])

    async def agreed(self) -> int:
        return await self._count(
            f'SELECT count(*) AS n FROM "{self.system.schema("planning")}".plans '
            "WHERE state = 'DISEPAKATI' AND period_id = $1 AND nip = ANY($2::text[])",
            self.work.period,
            self.work.nips,
        )

    async def unpublished(self, service: str) -> int:
        return await self._count(
            f'SELECT count(*) AS n FROM "{self.system.schema(service)}".outbox '
            "WHERE published_at IS NULL"
        )

    async def rows(self, service: str) -> int:
        """observation's observations or assessment's assessments of an agreed plan."""
        table = "observations" if service == "observation" else "assessments"
        agreed = " AND plan_agreed" if service == "assessment" else ""
        return await self._count(
            f'SELECT count(*) AS n FROM "{self.system.schema(service)}".{table} '
            f"WHERE period_id = $1 AND nip = ANY($2::text[]){agreed}",
            self.work.period,
            self.work.nips,
        )

    async def stored(self, kind: str | None = None) -> tuple[int, int]:
        """(DELIVERED, stored) delivery rows of this work, of ``kind`` or all."""
        rows = await self.system.pg.fetch(
            "SELECT count(*) FILTER (WHERE state = 'DELIVERED') AS done, count(*) AS n "
            f'FROM "{self.system.bkn_schema}".deliveries '
            "WHERE nip = ANY($1::text[]) AND ($2::text IS NULL OR kind = $2)",
            self.work.nips,
            kind,
        )
        return int(rows[0]["done"]), int(rows[0]["n"])

    async def terkirim(self) -> int:
        return (await self.work.predikat_views(self.system)).get("terkirim", 0)

    async def of(self, target: str) -> tuple[int, int]:
        """(done, total) of the service ``target`` names."""
        teachers = len(self.work.nips)
        if target == "planning":
            return await self.agreed(), teachers
        if target in ("observation", "assessment"):
            return await self.rows(target), teachers
        if target == "predikat":
            return await self.terkirim(), teachers
        return await self.work.delivered(self.system), self.work.deliveries

    async def in_flight(self, target: str) -> dict[str, Any] | None:
        """The evidence that ``target`` has work it has not done yet, or None. planning: a
        teacher's request open and plans still to agree; observation and assessment: agreed
        plans they have not applied yet; predikat: predikat deliveries at e-Kinerja it has not
        shown as terkirim yet; a bkn-sync replica: stored deliveries not delivered yet."""
        self.driver.check()
        done, total = await self.of(target)
        if done >= total:
            return None
        if target == "planning":
            requests = self.driver.in_flight
            if requests == 0:
                return None
            outbox = await self.unpublished("planning")
            return {"agreed": done, "requests_open": requests, "outbox_unpublished": outbox}
        if target in ("observation", "assessment"):
            agreed = await self.agreed()
            if agreed <= done:
                return None
            return {"rows": done, "agreed_plans": agreed, "not_applied": agreed - done}
        if target == "predikat":
            delivered, _ = await self.stored("PREDIKAT")
            if delivered <= done:
                return None
            return {"terkirim": done, "predikat_delivered": delivered}
        stored = await self.stored()
        if stored[1] <= done:
            return None
        return {"delivered": done, "stored_not_delivered": stored[1] - done}


def kill_targets(kills: int, rng: random.Random) -> list[str]:
    """``kills`` targets, every service in turn (each at least once from seven kills on)."""
    order = list(KILL_TARGETS)
    rng.shuffle(order)
    return [order[i % len(order)] for i in range(kills)]


# --- the verdict -----------------------------------------------------------------------------


async def flow_verdict(system: WholeSystem, work: Work) -> dict[str, Any]:
    """Per upstream service: how many teachers it holds exactly one row for, of the plan and
    version planning agreed (``ok``), and which are missing, doubled or wrong."""
    nips, period = work.nips, work.period
    plans = {
        r["nip"]: (r["plan_id"], r["version"], r["state"])
        for r in await system.pg.fetch(
            f'SELECT nip, plan_id, version, state FROM "{system.schema("planning")}".plans '
            "WHERE period_id = $1 AND nip = ANY($2::text[])",
            period,
            nips,
        )
    }
    # One PlanAgreed per teacher in planning's outbox: a second would be a second agreement.
    events = {
        r["key"]: (r["n"], r["unpublished"])
        for r in await system.pg.fetch(
            "SELECT key, count(*) AS n, count(*) FILTER (WHERE published_at IS NULL) "
            f'AS unpublished FROM "{system.schema("planning")}".outbox WHERE topic = $1 '
            "AND key = ANY($2::text[]) GROUP BY key",
            PLAN_AGREED.name,
            nips,
        )
    }
    agreed = {n for n, (_, _, state) in plans.items() if state == "DISEPAKATI"}
    result: dict[str, Any] = {
        "planning": {
            "teachers": len(nips),
            "agreed": len(agreed),
            "not_agreed": len(nips) - len(agreed),
            "plan_agreed_events": sum(n for n, _ in events.values()),
            "agreed_twice": sum(1 for n, _ in events.values() if n > 1),
            "events_unpublished": sum(u for _, u in events.values()),
        }
    }
    result["planning"]["ok"] = (
        result["planning"]["not_agreed"] == 0
        and result["planning"]["agreed_twice"] == 0
        and result["planning"]["plan_agreed_events"] == len(nips)
        and result["planning"]["events_unpublished"] == 0
    )
    for service, table in (("observation", "observations"), ("assessment", "assessments")):
        schema = system.schema(service)
        rows = await system.pg.fetch(
            f"SELECT nip, count(*) AS n, min(plan_id) AS plan_id, min(plan_version) AS version "
            f'FROM "{schema}".{table} WHERE period_id = $1 GROUP BY nip',
            period,
        )
        held = {r["nip"]: (r["n"], r["plan_id"], r["version"]) for r in rows}
        # The PlanAgreed events applied, by teacher (the inbox holds each event id once).
        applied = Counter(
            r["key"]
            for r in await system.pg.fetch(
                f'SELECT o.key FROM "{schema}".inbox i JOIN "{system.schema("planning")}".outbox '
                "o USING (event_id) WHERE i.topic = $1",
                PLAN_AGREED.name,
            )
        )
        missing = [n for n in nips if n not in held]
        doubled = [n for n, (count, _, _) in held.items() if count > 1 or applied[n] > 1]
        wrong = [
            n
            for n, (_, plan_id, version) in held.items()
            if n in plans and (plan_id, version) != plans[n][:2]
        ]
        extra = [n for n in held if n not in set(nips)]
        result[service] = {
            "rows": sum(count for count, _, _ in held.values()),
            "teachers_with_one_row": sum(1 for n in nips if held.get(n, (0,))[0] == 1),
            "missing": len(missing),
            "doubled": len(doubled),
            "other_plan_or_version": len(wrong),
            "not_ours": len(extra),
            "plan_agreed_applied": sum(applied.values()),
            "ok": not (missing or doubled or wrong or extra),
            "examples": (missing + doubled + wrong + extra)[:3],
        }
    return result


async def settled(system: WholeSystem, progress: Progress) -> bool:
    """Every teacher's plan agreed and applied by observation and assessment."""
    teachers = len(progress.work.nips)
    try:
        return (
            progress.driver.done
            and await progress.agreed() == teachers
            and await progress.rows("observation") == teachers
            and await progress.rows("assessment") == teachers
        )
    except Exception:
        return False


async def agreed_versions(system: WholeSystem, work: Work) -> dict[str, int]:
    """The version of each teacher's agreed plan: the SKP version e-Kinerja is to hold."""
    rows = await system.pg.fetch(
        f'SELECT nip, version FROM "{system.schema("planning")}".plans '
        "WHERE state = 'DISEPAKATI' AND period_id = $1 AND nip = ANY($2::text[])",
        work.period,
        work.nips,
    )
    return {r["nip"]: r["version"] for r in rows}
