"""One teacher's flow through all five services, as production runs them.

Every service is its own process on the real broker and database. The client (as the PMM
front end would) sends one W3C trace context with each of its requests; the services carry it
through their outboxes and Kafka hops, so the whole flow, from the plan to the record at
e-Kinerja, is one trace in Zipkin.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from flow import Client
from people import new_school
from processes import System

from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_shared.roster.publish import publish_roster
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.stack import Stack

pytestmark = [pytest.mark.infra, pytest.mark.e2e]

BEHAVIOURS = (
    "BERORIENTASI_PELAYANAN",
    "AKUNTABEL",
    "KOMPETEN",
    "HARMONIS",
    "LOYAL",
    "ADAPTIF",
    "KOLABORATIF",
)


async def test_one_teacher_from_plan_to_predikat_at_ekinerja_in_one_trace(
    system: System, stack: Stack, idp: DevIdentityProvider
) -> None:
    school = new_school(teachers=1)
    guru, ks, npsn = school.guru[0], school.kepala, school.sekolah.npsn
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    as_guru = Client(idp.mint(role="guru", nip=guru.nip, npsn=npsn), traceparent)
    as_ks = Client(idp.mint(role="kepala_sekolah", nip=ks.nip, npsn=npsn), traceparent)
    as_dinas = Client(idp.mint(role="dinas", area="3171"), traceparent)
    planning, observation, assessment, predikat, bkn_sync = (
        system.urls[s] for s in ("planning", "observation", "assessment", "predikat", "bkn_sync")
    )

    await publish_roster(stack.kafka_bootstrap, [school.sekolah], [ks, guru])

    # planning: the Guru writes and submits, the Kepala Sekolah approves, the Guru agrees.
    periods = await as_guru.call("GET", f"{planning}/periods")
    today = datetime.now(UTC).date().isoformat()
    period = next(p["period_id"] for p in periods if p["start"] <= today <= p["end"])
    content = {
        "period_id": period,
        "sub_indikator": "D1.1",
        "indikator_kompetensi": "KP.1",
        "tugas_pokok": ["Mengajar IPA kelas VIII"],
        "tugas_tambahan": [],
        "perilaku_fokus": ["KOLABORATIF"],
    }
    plan = await wait_for(
        lambda: _created(as_guru, f"{planning}/plans", content), what="roster reached planning"
    )
    plan_id = plan["plan_id"]
    await as_guru.call("POST", f"{planning}/plans/{plan_id}/submit", {})
    await as_ks.call("POST", f"{planning}/plans/{plan_id}/approve", {})
    agreed = await as_guru.call("POST", f"{planning}/plans/{plan_id}/agree", {})
    assert agreed["state"] == "DISEPAKATI"

    # observation opens from plan-agreed; the Kepala Sekolah schedules and observes.
    obs_url = f"{observation}/observations/{guru.nip}/{period}"
    await wait_for(lambda: as_ks.probe(obs_url), what="observation opened from plan-agreed")
    start = datetime.now(UTC) + timedelta(minutes=1)
    await as_ks.call("POST", f"{obs_url}/schedule", {"scheduled_at": start.isoformat()})
    catalog = await as_ks.call("GET", f"{planning}/catalog")
    d11 = next(s for s in catalog["sub_indikator"] if s["code"] == "D1.1")
    items = [item["code"] for item in d11["rubrik"]]
    await as_ks.call(
        "POST",
        f"{obs_url}/conduct",
        {"rubric_scores": dict.fromkeys(items, 3), "notes": "Kelas tertib."},
    )

    # assessment opens from observation.conducted; the Kepala Sekolah rates behaviour.
    rating_url = f"{assessment}/assessments/{guru.nip}/{period}"
    await wait_for(lambda: as_ks.probe(rating_url), what="assessment opened")
    # No follow-up yet in this flow: the Kepala Sekolah rates without it, explicitly.
    rated = await as_ks.call(
        "PUT",
        f"{rating_url}/rating",
        {
            "behaviours": dict.fromkeys(BEHAVIOURS, "SESUAI_EKSPEKTASI"),
            "allow_missing_followup": True,
        },
    )
    assert rated["recommended_predikat"] == "BAIK"

    # predikat: the Dinas sets the school's predikat, the Kepala Sekolah fixes and sends.
    teacher_url = f"{predikat}/predikat/{guru.nip}/{period}"
    await wait_for(lambda: as_ks.probe(teacher_url), what="recommendation reached predikat")
    await as_dinas.call_once_known(
        "PUT",
        f"{predikat}/organisasi/{npsn}/{period}",
        {"predikat_organisasi": "ISTIMEWA"},
        "SEKOLAH_NOT_FOUND",
        "school reached predikat",
    )
    await as_ks.call("POST", f"{predikat}/sekolah/{npsn}/{period}/tetapkan", {})
    sent = await as_ks.call("POST", f"{teacher_url}/kirim", {}, expect=202)
    assert sent

    # bkn-sync delivers; the teacher sees the predikat once e-Kinerja has it.
    async def delivered() -> Any:
        view = await as_guru.probe(teacher_url)
        return view if view and view.get("delivery_state") == "terkirim" else None

    view = await wait_for(delivered, timeout=60, what="predikat terkirim")
    assert view["predikat"] == "BAIK"

    async with httpx.AsyncClient() as http:
        ledger = (await http.get(f"{system.simulator}/ledger", params={"nip": guru.nip})).json()
    deliveries = await as_guru.call("GET", f"{bkn_sync}/deliveries/{guru.nip}")
    items = deliveries if isinstance(deliveries, list) else deliveries["deliveries"]
    assert sorted((d["kind"], d["state"]) for d in items) == [
        ("PREDIKAT", "DELIVERED"),
        ("SKP", "DELIVERED"),
    ]

    # Exactly once each at e-Kinerja, whatever was retried on the way.
    assert sorted(r["kind"] for r in ledger["records"]) == ["predikat", "skp"], ledger

    # One trace: spans of all five services and the simulator under the client's trace id.
    async def whole_trace() -> set[str] | None:
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{stack.zipkin_url}/api/v2/trace/{trace_id}")
        if r.status_code != 200:
            return None
        services = {s.get("localEndpoint", {}).get("serviceName") for s in r.json()}
        wanted = {"planning", "observation", "assessment", "predikat", "bkn-sync", "ekinerja-sim"}
        return services if wanted <= services else None

    await wait_for(whole_trace, timeout=30, interval=0.5, what="all services in one trace")


async def _created(client: Client, url: str, content: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(url, json=content, headers=client.headers)
    if response.status_code in (200, 201):
        return response.json()
    assert response.json().get("code") == "PEGAWAI_NOT_FOUND", response.text
    return None
