"""The predikat service against the real PostgreSQL and Kafka."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from kinerja_shared.events.bkn_sync import DeliveryState
from kinerja_shared.topics import PREDIKAT_DITETAPKAN
from kinerja_tools.testing import wait_for
from predikat.handlers import on_delivery_statuses

from .conftest import (
    PERIOD,
    STRICT_AREA,
    Env,
    School,
    make_school,
    random_digits,
    random_nip,
)

pytestmark = pytest.mark.infra

REASON = "Dua guru meraih juara lomba inovasi tingkat nasional."


async def ready_school(env: Env, predikats: list[str], area: str | None = None) -> School:
    """A school whose teachers all have a DRAF predikat from the recommendation."""
    school = await make_school(env, len(predikats), area)
    for nip, p in zip(school.teachers, predikats, strict=True):
        await school.recommend(nip, p)

    async def all_there() -> bool:
        r = await env.client.get(f"/sekolah/{school.npsn}/{PERIOD}", headers=school.ks_auth)
        return r.status_code == 200 and len(r.json()["teachers"]) == len(predikats)

    await wait_for(all_there, timeout=30, what="recommendations as DRAF rows")
    return school


async def set_org(school: School, value: str) -> Any:
    return await school.env.client.put(
        f"/organisasi/{school.npsn}/{PERIOD}",
        json={"predikat_organisasi": value},
        headers=school.dinas_auth,
    )


async def sent_school(env: Env, predikats: list[str]) -> School:
    """A school of an ISTIMEWA org whose teachers' predikat were decided and sent."""
    school = await ready_school(env, predikats)
    assert (await set_org(school, "ISTIMEWA")).status_code == 200
    path = f"/sekolah/{school.npsn}/{PERIOD}"
    done = await env.client.post(f"{path}/tetapkan", json={}, headers=school.ks_auth)
    assert done.status_code == 200, done.text
    assert (await env.client.post(f"{path}/kirim", headers=school.ks_auth)).status_code == 202
    return school


async def teacher(school: School, nip: str) -> dict[str, Any]:
    r = await school.env.client.get(f"/predikat/{nip}/{PERIOD}", headers=school.ks_auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def locked(conn: Any, nips: list[str]) -> list[Any]:
    """The delivery columns of these teachers' rows, locked until the transaction ends."""
    return list(
        await conn.fetch(
            """SELECT nip, version, delivery_state, reason_code, actor, next_attempt_at
               FROM teacher_predikat WHERE nip = ANY($1::text[]) AND period_id = $2
               ORDER BY nip FOR UPDATE""",
            nips,
            PERIOD,
        )
    )


async def read_ditetapkan(env: Env, nips: set[str], at_least: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        PREDIKAT_DITETAPKAN.name,
        bootstrap_servers=env.kafka_bootstrap,
        group_id=f"predikat-it-{secrets.token_hex(4)}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:

        async def enough() -> bool:
            for recs in (await consumer.getmany(timeout_ms=200)).values():
                for rec in recs:
                    if rec.key is not None and rec.key.decode() in nips:
                        found.append(json.loads(rec.value))
            return len(found) >= at_least

        await wait_for(enough, timeout=45, what=f"{at_least} predikat.ditetapkan events")
    finally:
        await consumer.stop()
    return found


async def test_a_recommendation_becomes_a_draft_and_a_later_one_updates_it(env: Env) -> None:
    school = await ready_school(env, ["BAIK"])
    nip = school.teachers[0]
    row = await teacher(school, nip)
    assert (row["state"], row["predikat"], row["version"]) == ("DRAF", "BAIK", 0)

    await school.recommend(nip, "SANGAT_BAIK")

    async def updated() -> bool:
        return (await teacher(school, nip))["predikat"] == "SANGAT_BAIK"

    await wait_for(updated, timeout=30, what="the later recommendation")


async def test_tetapkan_before_the_org_predikat_is_refused_with_v19(env: Env) -> None:
    school = await ready_school(env, ["BAIK", "BAIK"])
    r = await env.client.post(
        f"/sekolah/{school.npsn}/{PERIOD}/tetapkan", json={}, headers=school.ks_auth
    )
    assert r.status_code == 422
    assert r.json()["code"] == "V-19"
    assert r.json()["message"] == (
        "Predikat Kinerja Organisasi untuk satuan pendidikan Anda belum ditetapkan oleh Dinas "
        "Pendidikan."
    )


async def test_a_dinas_of_another_area_may_not_set_the_org_predikat(env: Env) -> None:
    school = await ready_school(env, ["BAIK"])
    other = "0000" if school.area != "0000" else "1111"
    r = await env.client.put(
        f"/organisasi/{school.npsn}/{PERIOD}",
        json={"predikat_organisasi": "BAIK"},
        headers=env.auth(role="dinas", area=other),
    )
    assert r.status_code == 403
    assert r.json()["code"] == "OUTSIDE_AREA"


async def test_override_of_the_recommendation_needs_a_reason(env: Env) -> None:
    school = await ready_school(env, ["BAIK"])
    url = f"/predikat/{school.teachers[0]}/{PERIOD}"
    r = await env.client.put(url, json={"predikat": "SANGAT_BAIK"}, headers=school.ks_auth)
    assert (r.status_code, r.json()["code"]) == (422, "OVERRIDE_REASON_REQUIRED")
    r = await env.client.put(
        url, json={"predikat": "SANGAT_BAIK", "reason": REASON}, headers=school.ks_auth
    )
    assert r.status_code == 200
    assert r.json()["predikat"] == "SANGAT_BAIK"


async def test_a_distribution_violation_is_v21_unless_a_reason_is_written(env: Env) -> None:
    school = await ready_school(env, ["SANGAT_BAIK"] * 2 + ["BAIK"] * 5)
    assert (await set_org(school, "BAIK")).status_code == 200
    url = f"/sekolah/{school.npsn}/{PERIOD}/tetapkan"

    r = await env.client.post(url, json={}, headers=school.ks_auth)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "V-21"
    assert body["message"] == (
        "Sebaran predikat tidak sesuai dengan Predikat Kinerja Organisasi (Baik): "
        "Baik 5 melebihi batas 4; wajib ada minimal 1 Butuh Perbaikan atau Kurang. "
        "Untuk tetap menetapkan, tuliskan alasan (distribution_reason) minimal 20 karakter."
    )
    assert [lim["text"] for lim in body["detail"]["limits"]] == [
        "Baik maksimal 4",
        "Butuh Perbaikan atau Kurang minimal 1",
    ]
    # Too short a reason: the answer says how long it must be, not only the refusal again.
    r = await env.client.post(url, json={"distribution_reason": "sudah"}, headers=school.ks_auth)
    assert (r.status_code, r.json()["code"]) == (422, "V-21")
    assert r.json()["message"].endswith(
        "Alasan yang ditulis baru 5 karakter; tuliskan minimal 20 karakter untuk tetap menetapkan."
    )

    r = await env.client.post(url, json={"distribution_reason": REASON}, headers=school.ks_auth)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["ditetapkan"]) == sorted(school.teachers)
    assert (
        await env.fetchval("SELECT reason FROM distribution_override WHERE npsn = $1", school.npsn)
        == REASON
    )


async def test_a_strict_dinas_refuses_a_violation_even_with_a_reason(env: Env) -> None:
    school = await ready_school(
        env, ["SANGAT_BAIK"] * 2 + ["BAIK"] * 5, area=STRICT_AREA + random_digits(2)
    )
    assert (await set_org(school, "BAIK")).status_code == 200
    r = await env.client.post(
        f"/sekolah/{school.npsn}/{PERIOD}/tetapkan",
        json={"distribution_reason": REASON},
        headers=school.ks_auth,
    )
    assert (r.status_code, r.json()["code"]) == (422, "V-21")
    assert r.json()["detail"]["strict"] is True


async def test_kirim_sends_once_and_delivery_status_reaches_principal_and_teacher(
    env: Env,
) -> None:
    school = await ready_school(env, ["SANGAT_BAIK", "SANGAT_BAIK", "BAIK"])
    delivered, parked, corrected = school.teachers
    assert (await set_org(school, "ISTIMEWA")).status_code == 200
    r = await env.client.post(
        f"/sekolah/{school.npsn}/{PERIOD}/tetapkan", json={}, headers=school.ks_auth
    )
    assert r.status_code == 200, r.text

    kirim = f"/sekolah/{school.npsn}/{PERIOD}/kirim"
    first = await env.client.post(kirim, headers=school.ks_auth)
    assert first.status_code == 202
    ids = first.json()["delivery_ids"]
    assert set(ids) == set(school.teachers)
    events = await read_ditetapkan(env, set(school.teachers), at_least=3)
    assert {e["payload"]["nip"] for e in events} == set(school.teachers)
    assert all(e["payload"]["predikat_organisasi"] == "ISTIMEWA" for e in events)
    assert (await teacher(school, delivered))["delivery_state"] == "menunggu"

    again = await env.client.post(kirim, headers=school.ks_auth)
    single = await env.client.post(f"/predikat/{delivered}/{PERIOD}/kirim", headers=school.ks_auth)
    assert again.json()["delivery_ids"] == ids
    assert single.json()["delivery_ids"] == {delivered: ids[delivered]}
    staged = await env.fetchval(
        "SELECT count(*) FROM outbox WHERE topic = $1 AND key = ANY($2::text[])",
        PREDIKAT_DITETAPKAN.name,
        school.teachers,
    )
    assert staged == 3

    guru = await env.client.get(
        f"/predikat/{delivered}/{PERIOD}", headers=school.guru_auth(delivered)
    )
    assert (guru.status_code, guru.json()["code"]) == (404, "PREDIKAT_BELUM_TERKIRIM")

    await school.status(delivered, 1, DeliveryState.DELIVERED)
    await school.status(
        parked,
        1,
        DeliveryState.PARKED,
        reason_code="BKN-E03",
        reason="Pegawai belum terdaftar sebagai User PMM.",
        remedy="Admin BKD menambahkan pegawai melalui menu User PMM.",
        actor="ADMIN_BKD",
    )

    async def terkirim() -> bool:
        return (await teacher(school, delivered))["delivery_state"] == "terkirim"

    await wait_for(terkirim, timeout=30, what="TERKIRIM after DELIVERED")
    guru = await env.client.get(
        f"/predikat/{delivered}/{PERIOD}", headers=school.guru_auth(delivered)
    )
    assert guru.status_code == 200
    assert (guru.json()["predikat"], guru.json()["version"]) == ("SANGAT_BAIK", 1)

    async def tertahan() -> dict[str, Any] | None:
        row = await teacher(school, parked)
        return row if row["delivery_state"] == "tertahan" else None

    row = await wait_for(tertahan, timeout=30, what="TERTAHAN after PARKED")
    assert row["remedy"] == "Admin BKD menambahkan pegawai melalui menu User PMM."
    assert row["actor"] == "ADMIN_BKD"
    assert row["next_step_by"] == "Admin BKD"
    assert "User PMM" in row["status_text"]
    assert "coba lagi" not in row["status_text"]

    # A correction is version 2; news about version 1 no longer moves the teacher.
    r = await env.client.post(
        f"/predikat/{corrected}/{PERIOD}/koreksi",
        json={"predikat": "SANGAT_BAIK", "reason": REASON},
        headers=school.ks_auth,
    )
    assert r.status_code == 202
    events = await read_ditetapkan(env, {corrected}, at_least=2)
    assert [e["payload"]["version"] for e in events] == [1, 2]
    assert events[1]["payload"]["correction_reason"] == REASON
    await school.status(corrected, 1, DeliveryState.DELIVERED)
    await school.status(
        corrected, 2, DeliveryState.RETRYING, next_attempt_at="2026-01-05T08:30:00Z"
    )

    async def retrying() -> dict[str, Any] | None:
        row = await teacher(school, corrected)
        return row if row["delivery_state"] == "dicoba_ulang" else None

    row = await wait_for(retrying, timeout=30, what="DICOBA_ULANG for version 2")
    assert row["version"] == 2
    assert row["next_attempt_at"].startswith("2026-01-05T08:30")
    assert row["status_text"].startswith("Sedang dikirim ulang otomatis pada 2026-01-05 15:30 WIB")

    # Sent predikat carry the org predikat: revising it now needs a formal reopening.
    r = await set_org(school, "BAIK")
    assert (r.status_code, r.json()["code"]) == (409, "V-22")


async def test_one_batch_of_status_events_ends_each_teacher_where_its_last_news_says(
    env: Env,
) -> None:
    school = await sent_school(env, ["SANGAT_BAIK", "SANGAT_BAIK", "BAIK"])
    sent, held, stale = school.teachers

    # What one poll of the status topic can hold: several events per teacher, in their order,
    # a late retry notice after DELIVERED, news of a version never sent, an unknown teacher.
    batch = [
        school.status_of(sent, 1, DeliveryState.IN_FLIGHT),
        school.status_of(held, 1, DeliveryState.RETRYING, next_attempt_at="2026-01-05T08:30:00Z"),
        school.status_of(sent, 1, DeliveryState.DELIVERED),
        school.status_of(held, 1, DeliveryState.PARKED, reason_code="BKN-E01", actor="OPERATOR"),
        school.status_of(sent, 1, DeliveryState.RETRYING, next_attempt_at="2026-01-05T08:30:00Z"),
        school.status_of(stale, 7, DeliveryState.DELIVERED),
        school.status_of(random_nip(), 1, DeliveryState.DELIVERED),
    ]
    # Every bkn-sync on this broker (another test's, the side run's replicas) may deliver these
    # teachers' predikat too and send real news of them. The rows are locked, put back where
    # Kirim left them, and read before the lock goes, so only the batch moves them.
    conn = await env.connect()
    try:
        async with conn.transaction():
            await locked(conn, school.teachers)
            await conn.execute(
                """UPDATE teacher_predikat SET delivery_state = 'menunggu', bkn_state = NULL,
                       next_attempt_at = NULL, reason_code = NULL, reason = NULL, remedy = NULL,
                       actor = NULL, delivered_version = NULL, delivered_predikat = NULL
                   WHERE nip = ANY($1::text[]) AND period_id = $2""",
                school.teachers,
                PERIOD,
            )
            changed = await on_delivery_statuses(conn, batch)
            after = {r["nip"]: r for r in await locked(conn, school.teachers)}
    finally:
        await conn.close()

    assert changed == 2
    assert after[sent]["delivery_state"] == "terkirim"
    assert (
        after[held]["delivery_state"],
        after[held]["reason_code"],
        after[held]["actor"],
        after[held]["next_attempt_at"],
    ) == ("tertahan", "BKN-E01", "OPERATOR", None)
    assert (after[stale]["version"], after[stale]["delivery_state"]) == (1, "menunggu")
    guru = await env.client.get(f"/predikat/{sent}/{PERIOD}", headers=school.guru_auth(sent))
    assert (guru.status_code, guru.json()["predikat"], guru.json()["version"]) == (
        200,
        "SANGAT_BAIK",
        1,
    )


async def test_held_deliveries_tell_the_principal_the_cause_the_next_step_and_who_takes_it(
    env: Env,
) -> None:
    school = await sent_school(env, ["SANGAT_BAIK", "SANGAT_BAIK", "BAIK"])
    unknown_nip, waiting, gave_up = school.teachers
    await school.status(
        unknown_nip,
        1,
        DeliveryState.PARKED,
        reason_code="BKN-E01",
        next_attempt_at="2026-01-05T08:30:00Z",
    )
    await school.status(waiting, 1, DeliveryState.PARKED, reason_code="BKN-E08")
    await school.status(gave_up, 1, DeliveryState.DEAD, reason_code="BKN-E08")

    async def all_held() -> list[dict[str, Any]] | None:
        r = await env.client.get(f"/sekolah/{school.npsn}/{PERIOD}", headers=school.ks_auth)
        views = {t["nip"]: t for t in r.json()["teachers"]}
        held = [views[n] for n in (unknown_nip, waiting, gave_up)]
        return held if all(v["delivery_state"] == "tertahan" for v in held) else None

    e01, e08_parked, e08_dead = await wait_for(all_held, timeout=30, what="three held")
    assert e01["next_step_by"] == "Operator Sekolah"
    assert "Verval PTK" in e01["status_text"]
    assert "2026-01-05 15:30 WIB" in e01["status_text"]
    assert e08_parked["next_step_by"] == "Tidak ada"
    assert e08_dead["next_step_by"] == "Tim Kinerja"
    texts = [v["status_text"] for v in (e01, e08_parked, e08_dead)]
    assert len(set(texts)) == 3
    assert not any("coba lagi" in t for t in texts)


async def test_the_dinas_chooses_warning_or_rule_for_its_area_and_reads_the_reasons(
    env: Env,
) -> None:
    school = await ready_school(env, ["SANGAT_BAIK"] * 2 + ["BAIK"] * 5)
    other = await make_school(env, 0)
    assert (await set_org(school, "BAIK")).status_code == 200
    policy = f"/wilayah/{school.area}/sebaran"
    tetapkan = f"/sekolah/{school.npsn}/{PERIOD}/tetapkan"

    r = await env.client.get(policy, headers=school.dinas_auth)
    assert (r.status_code, r.json()["mode"], r.json()["source"]) == (
        200,
        "PERINGATAN",
        "deployment",
    )
    r = await env.client.put(policy, json={"mode": "WAJIB"}, headers=other.dinas_auth)
    assert (r.status_code, r.json()["code"]) == (403, "OUTSIDE_AREA")
    r = await env.client.put(policy, json={"mode": "WAJIB"}, headers=school.ks_auth)
    assert (r.status_code, r.json()["code"]) == (403, "ROLE_FORBIDDEN")

    r = await env.client.put(policy, json={"mode": "WAJIB"}, headers=school.dinas_auth)
    assert (r.status_code, r.json()["mode"], r.json()["source"]) == (200, "WAJIB", "dinas")
    r = await env.client.post(
        tetapkan, json={"distribution_reason": REASON}, headers=school.ks_auth
    )
    assert (r.status_code, r.json()["code"]) == (422, "V-21")
    assert r.json()["detail"]["strict"] is True

    r = await env.client.put(policy, json={"mode": "PERINGATAN"}, headers=school.dinas_auth)
    assert r.status_code == 200
    r = await env.client.post(
        tetapkan, json={"distribution_reason": REASON}, headers=school.ks_auth
    )
    assert r.status_code == 200, r.text

    r = await env.client.get(f"/sekolah/{school.npsn}/{PERIOD}", headers=school.dinas_auth)
    (override,) = r.json()["distribution_overrides"]
    assert (override["reason"], override["by_nip"]) == (REASON, school.ks)
    assert [v["clause"] for v in override["violations"]] == ["BAIK_B_MAX_70", "BAIK_BP_K_MIN_1"]
    assert override["counts"] == {"SANGAT_BAIK": 2, "BAIK": 5}
