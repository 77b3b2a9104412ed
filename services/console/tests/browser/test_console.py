"""An operator and a Dinas at the delivery console, in Chromium, on the real stack."""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from kinerja_tools.testing import wait_for

if TYPE_CHECKING:
    from conftest import Rig

pytestmark = pytest.mark.infra

WIB = timezone(timedelta(hours=7))


def _area() -> str:
    return f"{random.randint(11, 94)}{random.randint(1, 99):02d}"


async def _parked_with_nip_not_found(rig: Rig, area: str, school: str) -> tuple[str, str, str]:
    npsn = await rig.school(area, school)
    nip = await rig.teacher(npsn, area)
    await wait_for(
        lambda: rig.bkn.fetch("SELECT 1 FROM roster_pegawai WHERE nip = $1", nip),
        timeout=30,
        what="the teacher in bkn-sync's roster",
    )
    await rig.sim.put(f"/admin/refusals/{nip}", json={"codes": ["NIP_NOT_FOUND"]})
    trace_id = secrets.token_hex(16)
    await rig.plan_agreed(nip, npsn, trace_id)

    async def parked() -> bool:
        return await rig.state_of(nip) == "PARKED"

    await wait_for(parked, timeout=60, what="the delivery PARKED")
    return nip, npsn, trace_id


async def test_an_operator_finds_a_parked_teacher_follows_the_trace_and_redrives_after_the_fix(
    rig: Rig, new_page: Any, sign_in: Any
) -> None:
    area = _area()
    school = f"SD Konsol {secrets.token_hex(3)}"
    nip, npsn, trace_id = await _parked_with_nip_not_found(rig, area, school)
    page = await new_page()

    await sign_in(page, rig, "operator")
    assert "operator" in await page.inner_text("#who")
    # The operator panels (Kafka lag, DLQ sizes, outboxes) come after the counts.
    await page.wait_for_selector("#pipeline #lag")
    await page.screenshot(path=rig.screens / "overview.png", full_page=True)
    assert await page.inner_text("#breaker") == "CLOSED"
    assert await page.inner_text("#pause-status") == "BERJALAN"

    await page.goto(f"{rig.console_url}/deliveries?school={school}&state=PARKED")
    await page.screenshot(path=rig.screens / "find.png", full_page=True)
    rows = page.locator("#results tr.delivery")
    assert await rows.count() == 1
    assert nip in await rows.first.inner_text()
    assert "BKN-E01" in await rows.first.inner_text()

    await rows.first.locator("a").click()
    await page.wait_for_url(f"**/deliveries/{nip}")

    async def history_shown() -> bool:
        await page.reload()
        return await page.locator("table.history td.PARKED").count() >= 1

    await wait_for(history_shown, timeout=30, what="the PARKED status in the history")
    await page.screenshot(path=rig.screens / "delivery.png", full_page=True)
    # The attempt that parked it: e-Kinerja's 422 and its error, beside the state.
    parked_row = page.locator("table.history tr", has=page.locator("td.PARKED")).first
    assert await parked_row.locator("td.http-status").inner_text() == "422"
    assert "BKN-E01" in await parked_row.locator("td.error").inner_text()
    assert "Operator Sekolah" in await page.inner_text(".actor")
    assert "Verval PTK" in await page.inner_text(".remedy-text")
    trace = page.locator("section.delivery-card p a.trace")
    assert await trace.get_attribute("href") == f"http://zipkin.test:9411/zipkin/traces/{trace_id}"

    # Grouped by reason and school in bkn-sync: this school, one teacher, linked to the find
    # page for exactly its parked deliveries of that reason (the reason's own page lists every
    # school; other sessions' schools may share the reason).
    await page.goto(f"{rig.console_url}/tertahan?reason_code=BKN-E01")
    reason = page.locator("#reason-BKN-E01")
    assert "Verval PTK" in await reason.inner_text()
    row = reason.locator(f"tr.parked-school[data-npsn='{npsn}']")
    for _ in range(50):  # the reason's schools come a page at a time (two in this rig)
        if await row.count() or not await page.locator("#next-page").count():
            break
        await page.goto(f"{rig.console_url}{await page.get_attribute('#next-page', 'href')}")
    assert school in await row.inner_text()
    assert await row.locator("td.num").inner_text() == "1"
    await page.screenshot(path=rig.screens / "tertahan.png", full_page=True)
    await row.locator("a").click()
    await page.wait_for_url(f"**/deliveries?state=PARKED&reason_code=BKN-E01&npsn={npsn}")
    found = page.locator("#results tr.delivery")
    assert await found.count() == 1
    assert nip in await found.first.inner_text()
    await page.goto(f"{rig.console_url}/tertahan")
    async with page.expect_download() as download:
        await page.click("#csv")
    csv_text = (await (await download.value).path()).read_text()
    assert f"{npsn},{school},{nip},SKP,2025" in csv_text

    # The school operator fixes the NIP (BKN knows it now); the operator redrives the school.
    await rig.sim.delete(f"/admin/refusals/{nip}")
    await page.goto(f"{rig.console_url}/redrive")
    await page.fill("input[name=reason_code]", "BKN-E01")
    await page.fill("input[name=npsn]", npsn)
    await page.click("#dry-run")
    await page.wait_for_selector("#dry-run-count")
    assert "1" in await page.inner_text("#dry-run-count strong")
    assert await rig.state_of(nip) == "PARKED"  # a dry run changes nothing
    await page.screenshot(path=rig.screens / "redrive-dry-run.png", full_page=True)
    await page.fill("#why", "NIP diperbaiki di Verval PTK")
    await page.click("#confirm")
    await page.wait_for_selector("#redriven")
    await page.wait_for_selector("#progress-done", timeout=60_000)
    await page.screenshot(path=rig.screens / "redrive-done.png", full_page=True)
    assert await rig.state_of(nip) == "DELIVERED"

    await page.goto(f"{rig.console_url}/audit")
    first = page.locator("tr.audit-row").first
    assert "redrive" in await first.inner_text()
    assert "NIP diperbaiki di Verval PTK" in await first.inner_text()
    assert "1 redriven" in await first.inner_text()
    await page.screenshot(path=rig.screens / "audit.png", full_page=True)


async def test_an_operator_republishes_a_dead_letter_and_discards_another_with_a_reason(
    rig: Rig, new_page: Any, sign_in: Any
) -> None:
    key = f"k-{secrets.token_hex(4)}"
    for n in range(2):
        await rig.publish(
            rig.dlq_topic,
            key,
            f'{{"n": {n}}}'.encode(),
            **{"kinerja-original-topic": rig.dlq_target, "kinerja-error-code": "POISON"},
        )
    page = await new_page()
    await sign_in(page, rig, "operator")
    await page.goto(f"{rig.console_url}/dlq/{rig.dlq_topic}?q={key}")
    records = page.locator("tr.dlq-record")
    assert await records.count() == 2
    assert "kinerja-error-code: POISON" in await records.first.inner_text()
    await page.screenshot(path=rig.screens / "dlq.png", full_page=True)
    republished_ref = await records.first.get_attribute("data-ref")
    await records.first.locator("button.republish").click()
    await page.wait_for_selector("#results")
    assert f"republished to {rig.dlq_target}" in await page.inner_text("#results")

    reader = AIOKafkaConsumer(bootstrap_servers=rig.stack.kafka_bootstrap, group_id=None)
    await reader.start()
    try:
        tps = [TopicPartition(rig.dlq_target, p) for p in range(3)]
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        got = await reader.getmany(timeout_ms=10_000)
        values = [m for batch in got.values() for m in batch if m.key == key.encode()]
    finally:
        await reader.stop()
    assert len(values) == 1
    headers = dict(values[0].headers)
    assert headers["kinerja-republished-from"].decode() == f"{rig.dlq_topic}:{republished_ref}"

    await page.goto(f"{rig.console_url}/dlq/{rig.dlq_topic}?q={key}")
    other = page.locator("tr.dlq-record").nth(1)
    await other.locator("input[name=why]").fill("bukan pengiriman nyata")
    await other.locator("button.discard").click()
    await page.wait_for_selector("#results")
    await page.goto(f"{rig.console_url}/dlq/{rig.dlq_topic}?q={key}")
    assert await page.locator("tr.dlq-record").count() == 1
    await page.goto(f"{rig.console_url}/audit")
    assert "bukan pengiriman nyata" in await page.inner_text("#audit")


async def test_a_dinas_sees_only_its_area_and_may_not_open_the_dlq(
    rig: Rig, new_page: Any, sign_in: Any
) -> None:
    mine, theirs = _area(), _area()
    while theirs[:2] == mine[:2]:
        theirs = _area()
    tag = secrets.token_hex(3)
    my_nip, my_npsn, _ = await _parked_with_nip_not_found(rig, mine, f"SD Milik {tag}")
    their_nip, their_npsn, _ = await _parked_with_nip_not_found(rig, theirs, f"SD Lain {tag}")

    page = await new_page()
    await sign_in(page, rig, "dinas", area=mine)
    # The overview counts its area; the operators' panels and the pause are not shown.
    assert await page.locator("#counts-SKP").count() == 1
    assert await page.locator("#pipeline").count() == 0
    assert await page.locator("#pause-state").count() == 0
    await page.goto(f"{rig.console_url}/deliveries?school={tag}")
    listed = await page.inner_text("#results")
    await page.screenshot(path=rig.screens / "dinas-find.png", full_page=True)
    assert my_nip in listed
    assert their_nip not in listed
    await page.goto(f"{rig.console_url}/tertahan")
    tertahan = await page.inner_text("main")
    await page.screenshot(path=rig.screens / "dinas-tertahan.png", full_page=True)
    assert f"SD Milik {tag}" in tertahan
    assert my_npsn in tertahan
    assert f"SD Lain {tag}" not in tertahan
    assert their_npsn not in tertahan

    response = await page.goto(f"{rig.console_url}/deliveries/{their_nip}")
    assert response is not None
    assert response.status == 403
    assert await page.inner_text("#refusal-code") == "OUTSIDE_AREA"

    response = await page.goto(f"{rig.console_url}/dlq")
    assert response is not None
    assert response.status == 403
    assert await page.inner_text("#refusal-code") == "CONSOLE_FORBIDDEN"
    await page.screenshot(path=rig.screens / "dinas-refused.png", full_page=True)


@pytest.mark.parametrize("role", ["guru", "kepala_sekolah"])
async def test_everyone_else_is_refused_at_login(rig: Rig, new_page: Any, role: str) -> None:
    page = await new_page()
    nip = "198001012005011001"
    await page.goto(f"{rig.console_url}/")
    await page.wait_for_url("**/dev-idp/authorize?**")
    await page.select_option("#role", role)
    await page.fill("#nip", nip)
    await page.fill("#npsn", "20100001")
    async with page.expect_response(lambda r: "/auth/callback" in r.url) as answer:
        await page.click("#sign-in")
    assert (await answer.value).status == 403
    assert await page.inner_text("#refusal-code") == "CONSOLE_FORBIDDEN"
    await page.screenshot(path=rig.screens / f"refused-{role}.png", full_page=True)
    # No session came of it: the console still sends this browser to log in.
    await page.goto(f"{rig.console_url}/")
    assert "/dev-idp/authorize" in page.url


async def test_a_dinas_redrives_its_own_schools_roster_fixable_deliveries(
    rig: Rig, new_page: Any, sign_in: Any
) -> None:
    mine, theirs = _area(), _area()
    while theirs[:2] == mine[:2]:
        theirs = _area()
    tag = secrets.token_hex(3)
    my_nip, my_npsn, _ = await _parked_with_nip_not_found(rig, mine, f"SD Dinas {tag}")
    their_nip, their_npsn, _ = await _parked_with_nip_not_found(rig, theirs, f"SD Jauh {tag}")
    for nip in (my_nip, their_nip):  # both school operators fix the NIP in Verval PTK
        await rig.sim.delete(f"/admin/refusals/{nip}")

    page = await new_page()
    await sign_in(page, rig, "dinas", area=mine)
    await page.goto(f"{rig.console_url}/redrive")
    assert "BKN-E01" in await page.inner_text("#dinas-scope")

    # Another area's school is refused by bkn-sync, and the page says so with its code.
    await page.fill("input[name=npsn]", their_npsn)
    await page.click("#dry-run")
    await page.wait_for_selector("#refusal-code")
    assert await page.inner_text("#refusal-code") == "OUTSIDE_AREA"

    await page.goto(f"{rig.console_url}/redrive")
    await page.fill("input[name=npsn]", my_npsn)
    await page.click("#dry-run")
    await page.wait_for_selector("#dry-run-count")
    assert await page.inner_text("#dry-run-count strong") == "1"
    await page.screenshot(path=rig.screens / "dinas-redrive-dry-run.png", full_page=True)
    await page.fill("#why", "NIP sudah diperbaiki operator sekolah")
    await page.click("#confirm")
    await page.wait_for_selector("#redriven")
    assert "dinas" in await page.inner_text("#redriven-by")
    assert await page.inner_text("#redriven-why") == "NIP sudah diperbaiki operator sekolah"
    await page.wait_for_selector("#progress-done", timeout=60_000)
    await page.screenshot(path=rig.screens / "dinas-redrive-done.png", full_page=True)
    assert await rig.state_of(my_nip) == "DELIVERED"
    assert await rig.state_of(their_nip) == "PARKED"

    operator = await new_page()
    await sign_in(operator, rig, "operator")
    await operator.goto(f"{rig.console_url}/audit")
    rows = operator.locator("tr.audit-row", has_text="NIP sudah diperbaiki operator sekolah")
    assert await rows.count() == 1
    assert "dinas" in await rows.first.inner_text()
    assert "1 redriven" in await rows.first.inner_text()


async def test_an_operator_pauses_deliveries_for_maintenance_and_resumes_them(
    rig: Rig, new_page: Any, sign_in: Any
) -> None:
    area = _area()
    npsn = await rig.school(area, f"SD Jeda {secrets.token_hex(3)}")
    nip = await rig.teacher(npsn, area)
    page = await new_page()
    await sign_in(page, rig, "operator")
    await page.goto(f"{rig.console_url}/")
    assert await page.inner_text("#pause-status") == "BERJALAN"
    await page.goto(f"{rig.console_url}/pause")
    assert await page.inner_text("#pause-status") == "BERJALAN"
    await page.fill("#why", "Pemeliharaan e-Kinerja BKN")
    # An end a day from now, typed in WIB as the page asks; bkn-sync keeps it in UTC.
    until = (datetime.now(WIB) + timedelta(days=1)).replace(second=0, microsecond=0)
    await page.fill("#until", until.strftime("%Y-%m-%dT%H:%M"))
    await page.click("#pause")
    await page.wait_for_selector("#pause-done")
    try:
        assert await page.inner_text("#pause-status") == "DIJEDA"
        assert await page.inner_text("#pause-reason") == "Pemeliharaan e-Kinerja BKN"
        await page.screenshot(path=rig.screens / "pause.png", full_page=True)
        # The overview says so too: who, why, until when.
        await page.goto(f"{rig.console_url}/")
        assert await page.inner_text("#pause-status") == "DIJEDA"
        assert await page.inner_text("#pause-reason") == "Pemeliharaan e-Kinerja BKN"
        assert "operator" in await page.inner_text("#pause-by")
        shown = await page.inner_text("#pause-until")
        assert until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") in shown
        await page.screenshot(path=rig.screens / "overview-paused.png", full_page=True)
        await page.goto(f"{rig.console_url}/pause")

        await rig.plan_agreed(nip, npsn, secrets.token_hex(16))

        async def queued() -> bool:
            return await rig.state_of(nip) == "QUEUED"

        await wait_for(queued, timeout=60, what="the delivery waiting QUEUED while paused")
        attempts = await rig.bkn.fetchval("SELECT attempts FROM deliveries WHERE nip = $1", nip)
        assert attempts == 0
        seen = (await rig.sim.get("/ledger/attempts", params={"nip": nip})).json()
        assert seen["count"] == 0

        await page.fill("#why", "Pemeliharaan selesai")
        await page.click("#resume")
        await page.wait_for_selector("#pause-done")
        assert await page.inner_text("#pause-status") == "BERJALAN"
    finally:
        await rig.bkn.client.delete(
            "/pause", headers={"Authorization": f"Bearer {rig.bkn.idp.mint(role='operator')}"}
        )

    async def delivered() -> bool:
        return await rig.state_of(nip) == "DELIVERED"

    await wait_for(delivered, timeout=60, what="the delivery DELIVERED after the resume")
    await page.screenshot(path=rig.screens / "pause-resumed.png", full_page=True)

    await page.goto(f"{rig.console_url}/audit")
    audit = await page.inner_text("#audit")
    assert "Pemeliharaan e-Kinerja BKN" in audit
    assert "Pemeliharaan selesai" in audit
    rows = page.locator("tr.audit-row")
    assert "resume" in await rows.nth(0).inner_text()
    assert "pause" in await rows.nth(1).inner_text()


async def test_a_dinas_may_not_open_the_pause(rig: Rig, new_page: Any, sign_in: Any) -> None:
    page = await new_page()
    await sign_in(page, rig, "dinas", area=_area())
    response = await page.goto(f"{rig.console_url}/pause")
    assert response is not None
    assert response.status == 403
    assert await page.inner_text("#refusal-code") == "CONSOLE_FORBIDDEN"


async def test_a_reasons_schools_come_a_page_at_a_time_the_most_parked_first(
    rig: Rig, new_page: Any, sign_in: Any
) -> None:
    # Five schools parked for a reason of this test's own: 5, 4, 3, 2 and 1 teachers.
    code = f"T-{secrets.token_hex(4)}"
    npsns = [f"{random.randint(10_000_000, 99_999_999)}" for _ in range(5)]
    rows = [(npsn, 5 - i) for i, npsn in enumerate(npsns)]
    owners = [npsn for npsn, n in rows for _ in range(n)]
    await rig.bkn.fetch(
        "INSERT INTO deliveries (delivery_id, kind, nip, npsn, period_id, version,"
        " idempotency_key, state, reason_code, reason, remedy, actor, body, source_record,"
        " source_topic, source_partition, source_offset)"
        " SELECT 'SKP:' || g.nip || ':2025', 'SKP', g.nip, g.npsn, '2025', 1, gen_random_uuid(),"
        " 'PARKED', $3, 'Uji halaman', 'Perbaiki data', 'Operator Sekolah', '{}'::jsonb,"
        " '\\x'::bytea, 'test', 0, 0 FROM unnest($1::text[], $2::text[]) AS g(nip, npsn)",
        [f"1990{random.randint(0, 10**14 - 1):014d}" for _ in owners],
        owners,
        code,
    )
    page = await new_page()
    await sign_in(page, rig, "operator")
    await page.goto(f"{rig.console_url}/tertahan?reason_code={code}")
    section = page.locator(f"#reason-{code}")

    async def shown() -> list[tuple[str, str]]:
        schools = section.locator("tr.parked-school")
        return [
            (str(await r.get_attribute("data-npsn")), await r.locator("td.num").inner_text())
            for r in await schools.all()
        ]

    assert await section.locator(".reason-count").inner_text() == "15"
    assert await shown() == [(npsns[0], "5"), (npsns[1], "4")]
    assert await page.inner_text("#page-range") == "Sekolah 1–2 dari 5"
    assert await page.locator("#prev-page").count() == 0
    await page.screenshot(path=rig.screens / "tertahan-one-reason.png", full_page=True)

    await page.click("#next-page")
    await page.wait_for_url("**&dari=2")
    assert await shown() == [(npsns[2], "3"), (npsns[3], "2")]
    assert await page.inner_text("#page-range") == "Sekolah 3–4 dari 5"
    await page.click("#next-page")
    await page.wait_for_url("**&dari=4")
    assert await shown() == [(npsns[4], "1")]
    assert await page.inner_text("#page-range") == "Sekolah 5–5 dari 5"
    assert await page.locator("#next-page").count() == 0
    await page.click("#prev-page")
    await page.wait_for_url("**&dari=2")
    assert await shown() == [(npsns[2], "3"), (npsns[3], "2")]
