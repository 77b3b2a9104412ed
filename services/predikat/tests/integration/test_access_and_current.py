"""Who may do what, and the compacted current-predikat record."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from kinerja_shared.topics import PREDIKAT_CURRENT
from kinerja_tools.testing import wait_for

from .conftest import PERIOD, Env, make_school
from .test_predikat_flow import ready_school, sent_school

pytestmark = pytest.mark.infra


async def test_the_org_predikat_waits_for_data_until_the_dinas_sets_it(env: Env) -> None:
    school = await make_school(env, 1)
    url = f"/organisasi/{school.npsn}/{PERIOD}"

    async def known() -> bool:
        r = await env.client.get(url, headers=school.ks_auth)
        return r.status_code == 200

    await wait_for(known, timeout=30, what="the school on the roster")
    assert (await env.client.get(url, headers=school.ks_auth)).json()["state"] == "MENUNGGU_DATA"
    r = await env.client.put(url, json={"predikat_organisasi": "BAIK"}, headers=school.dinas_auth)
    assert (r.status_code, r.json()["state"]) == (200, "DITETAPKAN")
    r = await env.client.put(
        url, json={"predikat_organisasi": "ISTIMEWA"}, headers=school.dinas_auth
    )
    assert (r.json()["state"], r.json()["revision"]) == ("DIREVISI", 2)
    guru = school.guru_auth(school.teachers[0])
    assert (await env.client.get(url, headers=guru)).status_code == 403
    assert (await env.client.put(url, json={"predikat_organisasi": "BAIK"}, headers=guru)).json()[
        "code"
    ] == "ROLE_FORBIDDEN"


async def test_only_the_atasan_sets_and_only_the_teacher_reads_own(env: Env) -> None:
    school = await ready_school(env, ["BAIK", "BAIK"])
    other = await make_school(env, 0)
    a, b = school.teachers
    url = f"/predikat/{a}/{PERIOD}"

    r = await env.client.put(url, json={}, headers=other.ks_auth)
    assert (r.status_code, r.json()["code"]) == (403, "V-10")
    r = await env.client.get(url, headers=school.guru_auth(b))
    assert (r.status_code, r.json()["code"]) == (403, "NOT_OWN_RECORD")
    r = await env.client.post(f"/sekolah/{school.npsn}/{PERIOD}/kirim", headers=other.ks_auth)
    assert r.status_code == 403
    r = await env.client.get(f"/sekolah/{school.npsn}/{PERIOD}", headers=school.dinas_auth)
    assert r.status_code == 200
    assert {t["nip"] for t in r.json()["teachers"]} == {a, b}
    r = await env.client.get(f"/sekolah/{school.npsn}/{PERIOD}", headers=other.dinas_auth)
    assert (r.status_code, r.json()["code"]) == (403, "OUTSIDE_AREA")


async def test_a_sent_predikat_is_the_current_record_of_its_teacher_and_period(env: Env) -> None:
    school = await sent_school(env, ["BAIK"])
    key = f"{school.teachers[0]}:{PERIOD}"
    consumer = AIOKafkaConsumer(
        PREDIKAT_CURRENT.name,
        bootstrap_servers=env.kafka_bootstrap,
        group_id=f"predikat-it-{secrets.token_hex(4)}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:

        async def record() -> dict[str, Any] | None:
            for recs in (await consumer.getmany(timeout_ms=200)).values():
                for rec in recs:
                    if rec.key is not None and rec.key.decode() == key:
                        envelope: dict[str, Any] = json.loads(rec.value)
                        return envelope
            return None

        envelope = await wait_for(record, timeout=45, what="the current-predikat record")
        assert envelope is not None
    finally:
        await consumer.stop()
    # One rule on every topic: the key is the subject; the type names this topic's event.
    assert (envelope["subject"], envelope["type"]) == (key, PREDIKAT_CURRENT.event_type)
    current = envelope["payload"]
    assert (current["nip"], current["predikat"], current["version"]) == (
        school.teachers[0],
        "BAIK",
        1,
    )


@pytest.mark.parametrize(
    ("authorization", "code"),
    [(None, "AUTH_MISSING"), ("Bearer not-a-token", "AUTH_INVALID")],
)
async def test_a_refused_sign_in_carries_the_correlation_id_to_quote(
    env: Env, authorization: str | None, code: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    r = await env.client.get(f"/predikat/198001012005011001/{PERIOD}", headers=headers)
    assert (r.status_code, r.json()["code"]) == (401, code)
    assert re.fullmatch(r"[0-9a-f]{32}", r.json()["correlation_id"] or ""), r.json()


@pytest.mark.parametrize("nip", ["19800101200501100", "1980010120050110011", "19800101 200501100"])
async def test_a_nip_that_cannot_be_one_is_422_v24_not_an_unknown_teacher(
    env: Env, nip: str
) -> None:
    school = await make_school(env, 0)
    for headers in (school.dinas_auth, school.ks_auth):
        r = await env.client.get(f"/predikat/{nip}/{PERIOD}", headers=headers)
        assert (r.status_code, r.json()["code"]) == (422, "V-24"), r.text
        assert "18 angka" in r.json()["message"]
        assert r.json()["detail"]["length"] == len(nip)
