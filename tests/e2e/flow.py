"""Reusable steps of the cycle, as the PMM front end would drive them over HTTP.

Every step talks to the services the way a person would (a ``Client`` with their bearer token)
and waits for what the previous step caused elsewhere with ``wait_for`` — never a sleep. The
steps are small on purpose: a test composes them per teacher and asserts what it cares about.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from people import School
from processes import System

from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_shared.events.roster import Pegawai
from kinerja_shared.roster.publish import publish_roster
from kinerja_shared.topics import Topic
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.stack import Stack

# The seven BerAKHLAK behaviours by their codes (planning's catalog `perilaku_berakhlak`),
# which assessment takes as the keys of a rating.
BEHAVIOURS = (
    "BERORIENTASI_PELAYANAN",
    "AKUNTABEL",
    "KOMPETEN",
    "HARMONIS",
    "LOYAL",
    "ADAPTIF",
    "KOLABORATIF",
)
T = TypeVar("T")
# One Kafka hop and its consumer, on a shared broker that other runs keep busy.
HOP = 60.0
DI_ATAS, SESUAI, DI_BAWAH = "DI_ATAS_EKSPEKTASI", "SESUAI_EKSPEKTASI", "DI_BAWAH_EKSPEKTASI"


def local_http() -> httpx.AsyncClient:
    """A client for the services on 127.0.0.1: plain HTTP, so no CA bundle is loaded for each
    of the many polls (that alone costs real CPU on a busy machine)."""
    return httpx.AsyncClient(timeout=10, verify=False)


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


class Client:
    """A signed-in person's HTTP client that sends the flow's trace context."""

    def __init__(self, token: str, traceparent: str) -> None:
        self.headers = {"authorization": f"Bearer {token}", "traceparent": traceparent}

    async def request(self, method: str, url: str, json: Any = None) -> httpx.Response:
        async with local_http() as http:
            return await http.request(method, url, json=json, headers=self.headers)

    async def call(self, method: str, url: str, json: Any = None, expect: int = 200) -> Any:
        response = await self.request(method, url, json)
        assert response.status_code == expect, f"{method} {url}: {response.text}"
        return response.json() if response.content else None

    async def call_once_known(
        self, method: str, url: str, json: Any, not_yet: str, what: str
    ) -> Any:
        """``call``, repeated while the answer is ``not_yet`` (the error code of a roster entry
        that has not reached the service's projection yet): the projections are eventually
        consistent, and a person would simply try again."""

        async def answered() -> Any:
            response = await self.request(method, url, json)
            if response.status_code == 200:
                return response.json()
            assert response.json().get("code") == not_yet, f"{method} {url}: {response.text}"
            return None

        return await wait_for(answered, timeout=HOP, what=what)

    async def probe(self, url: str) -> Any:
        """The body of a 200, else None (not there yet, or not yet visible to this person)."""
        response = await self.request("GET", url)
        return response.json() if response.status_code == 200 else None


@dataclass
class Cycle:
    """One test's view of the running system: who calls, and where."""

    system: System
    stack: Stack
    idp: DevIdentityProvider
    traceparent: str = field(default_factory=new_traceparent)

    @property
    def planning(self) -> str:
        return self.system.urls["planning"]

    @property
    def observation(self) -> str:
        return self.system.urls["observation"]

    @property
    def assessment(self) -> str:
        return self.system.urls["assessment"]

    @property
    def predikat(self) -> str:
        return self.system.urls["predikat"]

    @property
    def bkn_sync(self) -> str:
        return self.system.urls["bkn_sync"]

    def as_guru(self, guru: Pegawai) -> Client:
        return Client(self.idp.mint(role="guru", nip=guru.nip, npsn=guru.npsn), self.traceparent)

    def as_ks(self, school: School) -> Client:
        """The school's Kepala Sekolah, or its Plt. (the same role in the token)."""
        ks = school.kepala
        return Client(
            self.idp.mint(role="kepala_sekolah", nip=ks.nip, npsn=ks.npsn), self.traceparent
        )

    def as_dinas(self, area: str) -> Client:
        return Client(self.idp.mint(role="dinas", area=area), self.traceparent)

    def as_operator(self) -> Client:
        return Client(self.idp.mint(role="operator"), self.traceparent)

    async def publish(self, schools: Iterable[School], *, headless: Iterable[School] = ()) -> None:
        """Dapodik's roster: every school, its head and its teachers; a headless school's head
        is left out (the school has neither a Kepala Sekolah nor a Plt.)."""
        with_head, without = list(schools), list(headless)
        people = [p for s in with_head for p in (s.kepala, *s.guru)]
        people += [g for s in without for g in s.guru]
        await publish_roster(
            self.stack.kafka_bootstrap, [s.sekolah for s in with_head + without], people
        )

    async def current_period(self, client: Client) -> str:
        periods = await client.call("GET", f"{self.planning}/periods")
        today = datetime.now(UTC).date().isoformat()
        return str(next(p["period_id"] for p in periods if p["start"] <= today <= p["end"]))

    # -- e-Kinerja simulator --------------------------------------------------------------

    async def sim(self, method: str, path: str, json: Any = None, **params: str) -> Any:
        async with local_http() as http:
            r = await http.request(
                method, f"{self.system.simulator}{path}", json=json, params=params
            )
        assert r.status_code == 200, f"{method} {path}: {r.text}"
        return r.json()

    @property
    def trace_id(self) -> str:
        return self.traceparent.split("-")[1]

    async def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """The spans Zipkin holds for ``trace_id`` so far ([] before the first arrives)."""
        async with local_http() as http:
            r = await http.get(f"{self.stack.zipkin_url}/api/v2/trace/{trace_id}")
        spans: list[dict[str, Any]] = r.json() if r.status_code == 200 else []
        return spans

    async def ledger_kinds(self, nip: str) -> list[str]:
        ledger = await self.sim("GET", "/ledger", nip=nip)
        return sorted(r["kind"] for r in ledger["records"])

    # -- planning -------------------------------------------------------------------------

    async def write_plan(self, guru: Pegawai, period: str, sub_indikator: str = "D1.1") -> Any:
        """The Guru's draft, once the roster has reached planning."""
        content = plan_content(period, sub_indikator)
        as_guru = self.as_guru(guru)

        async def created() -> Any:
            response = await as_guru.request("POST", f"{self.planning}/plans", content)
            if response.status_code in (200, 201):
                return response.json()
            assert response.json().get("code") == "PEGAWAI_NOT_FOUND", response.text
            return None

        return await wait_for(created, timeout=HOP, what=f"roster of {guru.nip} reached planning")

    async def plan(self, client: Client, plan_id: str) -> Any:
        return await client.call("GET", f"{self.planning}/plans/{plan_id}")

    async def agreed_plan(self, school: School, guru: Pegawai, period: str) -> Any:
        """Write, submit, approval (by the KS, or by the system at once under a Plt.), agree."""
        as_guru = self.as_guru(guru)
        plan = await self.write_plan(guru, period)
        plan_id = plan["plan_id"]
        submitted = await as_guru.call("POST", f"{self.planning}/plans/{plan_id}/submit", {})
        if guru.atasan_plt:
            assert submitted["state"] == "DISETUJUI", submitted
            assert submitted["approved_by"] == "SYSTEM_PLT", submitted
        else:
            assert submitted["state"] == "DIAJUKAN", submitted
            await self.as_ks(school).call("POST", f"{self.planning}/plans/{plan_id}/approve", {})
        agreed = await as_guru.call("POST", f"{self.planning}/plans/{plan_id}/agree", {})
        assert agreed["state"] == "DISEPAKATI", agreed
        return agreed

    # -- observation ----------------------------------------------------------------------

    def observation_url(self, guru: Pegawai, period: str) -> str:
        return f"{self.observation}/observations/{guru.nip}/{period}"

    async def rubric_items(self, client: Client, sub_indikator: str = "D1.1") -> list[str]:
        catalog = await client.call("GET", f"{self.planning}/catalog")
        sub = next(s for s in catalog["sub_indikator"] if s["code"] == sub_indikator)
        return [item["code"] for item in sub["rubrik"]]

    async def opened_observation(self, school: School, guru: Pegawai, period: str) -> Any:
        return await wait_for(
            lambda: self.as_ks(school).probe(self.observation_url(guru, period)),
            timeout=HOP,
            what=f"observation of {guru.nip} opened from plan-agreed",
        )

    async def observed(
        self,
        school: School,
        guru: Pegawai,
        period: str,
        *,
        score: int = 3,
        reschedule_reason: str | None = None,
    ) -> Any:
        """Scheduled a minute ahead (moved once more if a reason is given), then conducted.
        One teacher at a time per observer: a conducted observation frees the hour slot."""
        as_ks = self.as_ks(school)
        url = self.observation_url(guru, period)
        await self.opened_observation(school, guru, period)
        start = datetime.now(UTC) + timedelta(minutes=1)
        scheduled = await as_ks.call("POST", f"{url}/schedule", {"scheduled_at": start.isoformat()})
        assert scheduled["state"] == "DIJADWALKAN", scheduled
        if reschedule_reason is not None:
            moved = await as_ks.call(
                "POST",
                f"{url}/reschedule",
                {
                    "scheduled_at": (start + timedelta(minutes=2)).isoformat(),
                    "reason": reschedule_reason,
                    "expected_revision": scheduled["revision"],
                },
            )
            assert moved["state"] == "DIJADWALKAN", moved
        items = await self.rubric_items(as_ks)
        conducted = await as_ks.call(
            "POST",
            f"{url}/conduct",
            {"rubric_scores": dict.fromkeys(items, score), "notes": "Kelas tertib dan aktif."},
        )
        assert conducted["state"] == "DILAKSANAKAN", conducted
        return conducted

    async def followed_up(self, school: School, guru: Pegawai, period: str, actions: int) -> Any:
        """Diskusi tindak lanjut by the KS, then the Guru's actions and reflection."""
        url = self.observation_url(guru, period)
        await self.as_ks(school).call(
            "POST", f"{url}/feedback", {"feedback": "Perbanyak diskusi kelompok kecil."}
        )
        as_guru = self.as_guru(guru)
        for i in range(actions):
            await as_guru.call(
                "POST", f"{url}/followup/actions", {"action": f"Upaya tindak lanjut ke-{i + 1}"}
            )
        return await as_guru.call(
            "POST",
            f"{url}/followup/reflection",
            {"reflection": "Diskusi kelompok membuat siswa lebih aktif bertanya."},
        )

    # -- assessment -----------------------------------------------------------------------

    def assessment_url(self, guru: Pegawai, period: str) -> str:
        return f"{self.assessment}/assessments/{guru.nip}/{period}"

    async def rated(
        self,
        school: School,
        guru: Pegawai,
        period: str,
        *,
        behaviour: str = SESUAI,
        reflection_quality: str = SESUAI,
        with_followup: bool = False,
    ) -> Any:
        """The KS rates all seven behaviours once the assessment has its evidence."""
        as_ks = self.as_ks(school)
        url = self.assessment_url(guru, period)

        async def ready() -> Any:
            view = await as_ks.probe(url)
            if view is None or (with_followup and "FOLLOWUP" in view["missing_evidence"]):
                return None
            return view

        await wait_for(
            ready, timeout=HOP, what=f"assessment of {guru.nip} opened with its evidence"
        )
        body: dict[str, Any] = {
            "behaviours": dict.fromkeys(BEHAVIOURS, behaviour),
            "reflection_quality": reflection_quality,
        }
        if not with_followup:
            # No follow-up in this teacher's flow: the KS rates without it, explicitly.
            body["allow_missing_followup"] = True
        return await as_ks.call("PUT", f"{url}/rating", body)

    # -- predikat -------------------------------------------------------------------------

    def predikat_url(self, guru: Pegawai, period: str) -> str:
        return f"{self.predikat}/predikat/{guru.nip}/{period}"

    def school_url(self, school: School, period: str) -> str:
        return f"{self.predikat}/sekolah/{school.sekolah.npsn}/{period}"

    async def recommended(self, school: School, guru: Pegawai, period: str, predikat: str) -> Any:
        """The recommendation reached predikat as the teacher's DRAF."""
        as_ks = self.as_ks(school)

        async def arrived() -> Any:
            view = await as_ks.probe(self.predikat_url(guru, period))
            return view if view and view["predikat"] == predikat else None

        return await wait_for(
            arrived, timeout=HOP, what=f"recommendation {predikat} of {guru.nip} in predikat"
        )

    async def org_predikat(self, school: School, period: str, value: str) -> Any:
        dinas = self.as_dinas(school.sekolah.kode_wilayah)
        url = f"{self.predikat}/organisasi/{school.sekolah.npsn}/{period}"
        body = {"predikat_organisasi": value}
        what = f"school {school.sekolah.npsn} reached predikat"
        return await dinas.call_once_known("PUT", url, body, "SEKOLAH_NOT_FOUND", what)

    async def tetapkan(self, school: School, period: str) -> Any:
        return await self.as_ks(school).call(
            "POST", f"{self.school_url(school, period)}/tetapkan", {}
        )

    async def kirim_ke_guru(self, school: School, period: str) -> Any:
        return await self.as_ks(school).call(
            "POST", f"{self.school_url(school, period)}/kirim", {}, expect=202
        )

    async def school_view(self, school: School, period: str) -> dict[str, Any]:
        view = await self.as_ks(school).call("GET", self.school_url(school, period))
        return {t["nip"]: t for t in view["teachers"]}

    # -- bkn-sync -------------------------------------------------------------------------

    async def deliveries(self, client: Client, nip: str) -> list[dict[str, Any]]:
        response = await client.request("GET", f"{self.bkn_sync}/deliveries/{nip}")
        # Until the roster reaches bkn-sync the principal is not yet this teacher's atasan
        # there (403 V-10), and a teacher bkn-sync has never seen is not found (404).
        not_yet = response.status_code == 404 or (
            response.status_code == 403 and response.json()["code"] == "V-10"
        )
        if not_yet:
            return []
        assert response.status_code == 200, response.text
        body = response.json()
        return list(body if isinstance(body, list) else body["deliveries"])

    async def skp_delivered(self, school: School, guru: Pegawai) -> None:
        as_ks = self.as_ks(school)

        async def delivered() -> bool:
            rows = await self.deliveries(as_ks, guru.nip)
            return any(d["kind"] == "SKP" and d["state"] == "DELIVERED" for d in rows)

        await wait_for(delivered, timeout=HOP, what=f"SKP of {guru.nip} delivered")

    # -- a whole school ------------------------------------------------------------------

    async def ready_for_kirim(
        self, school: School, period: str, org: str = "ISTIMEWA"
    ) -> dict[str, Any]:
        """Every teacher of ``school`` agreed, observed, rated Baik and ditetapkan, with their
        SKP at e-Kinerja; the org predikat set by the Dinas. Returns the tetapkan answer."""
        await gather(self.agreed_plan(school, g, period) for g in school.guru)
        for guru in school.guru:
            await self.observed(school, guru, period)
        await gather(self.rated(school, g, period) for g in school.guru)
        await gather(self.recommended(school, g, period, "BAIK") for g in school.guru)
        await gather(self.skp_delivered(school, g) for g in school.guru)
        await self.org_predikat(school, period, org)
        return await self.tetapkan(school, period)


def plan_content(period: str, sub_indikator: str = "D1.1", tugas: str = "Mengajar IPA") -> Any:
    return {
        "period_id": period,
        "sub_indikator": sub_indikator,
        "indikator_kompetensi": "KP.1",
        "tugas_pokok": [f"{tugas} kelas VIII"],
        "tugas_tambahan": [],
        "perilaku_fokus": ["KOLABORATIF"],
    }


async def gather(steps: Iterable[Awaitable[T]]) -> list[T]:
    return list(await asyncio.gather(*steps))


class EventTap:
    """Reads chosen topics from their current end, outside any consumer group, so a test can
    check which events the services published about its own people (key = NIP or NPSN)."""

    def __init__(self, bootstrap: str, topics: Iterable[Topic[Any]]) -> None:
        self._bootstrap = bootstrap
        self._topics = list(topics)
        self._seen: list[tuple[str, str, dict[str, Any]]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventTap:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await consumer.start()
        self._consumer = consumer
        partitions = [TopicPartition(t.name, p) for t in self._topics for p in range(t.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end now: what happens from here on is read
            await consumer.position(tp)
        self._task = asyncio.create_task(self._read(consumer))
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    key = record.key.decode() if record.key else ""
                    self._seen.append((record.topic, key, json.loads(record.value or b"{}")))

    def payloads(self, topic: Topic[Any], subject: str) -> list[dict[str, Any]]:
        """Payloads published on ``topic`` about ``subject`` so far, in arrival order."""
        return [e["payload"] for t, k, e in self._seen if t == topic.name and k == subject]

    async def wait(
        self,
        topic: Topic[Any],
        subject: str,
        match: Callable[[dict[str, Any]], bool] = lambda _: True,
        *,
        timeout: float = HOP,
    ) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            return next((p for p in self.payloads(topic, subject) if match(p)), None)

        return await wait_for(found, timeout=timeout, what=f"{topic.name} about {subject}")
