"""Kirim ke Guru while e-Kinerja is down, flaky, and refuses one NIP (issue 5).

The principal clicks once and is answered at once (202). While e-Kinerja is in maintenance the
school view says the predikat are being sent again automatically and when; afterwards every
teacher ends `terkirim` — except the one whose NIP e-Kinerja does not know, who is `tertahan`
with the reason, the remedy and who must act. The Operator Sekolah's fix in Verval PTK reaches
Kinerja as a roster update, and that alone sends the parked predikat again: nobody presses a
button. e-Kinerja ends with exactly one predikat per teacher.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from flow import Cycle, new_traceparent
from people import new_school
from processes import System

from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_shared.roster.publish import publish_roster
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.stack import Stack

pytestmark = [pytest.mark.infra, pytest.mark.e2e]

# bkn-sync honours a Retry-After of up to 10 s inside one attempt (BKN_SYNC_RETRY_AFTER_CAP_
# SECONDS, default 10): the delivery stays IN_FLIGHT ("menunggu") and the principal is never
# shown a next attempt time. A maintenance window longer than that is handed to the retry tier
# (RETRYING with next_attempt_at = the end of the window) — the path under test here.
OUTAGE_SECONDS = 12
FAULTS = {
    "seed": 5,
    "outage_seconds": OUTAGE_SECONDS,
    "rules": [{"fault": "error", "rate": 0.3, "statuses": [503]}],
}


async def test_kirim_ke_guru_rides_out_an_outage_and_a_roster_fix(
    system: System, stack: Stack, idp: DevIdentityProvider
) -> None:
    cycle = Cycle(system, stack, idp)
    school = new_school(teachers=6)
    refused = school.guru[2]
    await cycle.publish([school])
    period = await cycle.current_period(cycle.as_dinas(school.sekolah.kode_wilayah))
    fixed = await cycle.ready_for_kirim(school, period)
    assert sorted(fixed["ditetapkan"]) == sorted(g.nip for g in school.guru), fixed
    nips = {g.nip for g in school.guru}

    try:
        # e-Kinerja: one NIP unknown to SIASN, then a maintenance window and a flaky tail.
        await cycle.sim("PUT", f"/admin/refusals/{refused.nip}", {"codes": ["NIP_NOT_FOUND"]})
        await cycle.sim("PUT", "/admin/faults", FAULTS)

        # The click starts a trace of its own: what follows from it must all be in it.
        cycle.traceparent = new_traceparent()
        kirim_trace = cycle.trace_id
        clicked, clicked_at = time.monotonic(), datetime.now(UTC)
        sent = await cycle.kirim_ke_guru(school, period)
        assert time.monotonic() - clicked < 3, "Kirim ke Guru must not wait for e-Kinerja"
        assert set(sent["delivery_ids"]) == nips, sent
        assert sent["belum_ditetapkan"] == []

        retrying: dict[str, str] = {}  # nip → next attempt time the principal was shown
        seen: dict[str, list[str]] = {nip: [] for nip in nips}  # each teacher's states, in order

        async def settled() -> dict[str, Any] | None:
            views = await cycle.school_view(school, period)
            for nip, v in views.items():
                if v["delivery_state"] == "dicoba_ulang" and v["next_attempt_at"]:
                    retrying[nip] = v["next_attempt_at"]
                if not seen[nip] or seen[nip][-1] != v["delivery_state"]:
                    seen[nip].append(v["delivery_state"])
            others = all(
                v["delivery_state"] == "terkirim" for n, v in views.items() if n != refused.nip
            )
            held = views[refused.nip]["delivery_state"] == "tertahan"
            return views if others and held and set(views) == nips else None

        try:
            views = await wait_for(settled, timeout=90, interval=0.1, what="the school settled")
        except TimeoutError as exc:
            # What bkn-sync itself holds, next to what the principal was shown.
            operator = cycle.as_operator()
            held_by_sync = {
                g.nip: [(d["kind"], d["state"], d["reason_code"]) for d in rows]
                for g in school.guru
                for rows in [await cycle.deliveries(operator, g.nip)]
            }
            raise AssertionError(
                f"not settled; states seen per teacher: {seen}; bkn-sync: {held_by_sync}"
            ) from exc
        assert retrying, "the principal never saw 'dicoba_ulang' with a next attempt time"
        for at in retrying.values():
            assert datetime.fromisoformat(at) > clicked_at, retrying

        held = views[refused.nip]
        assert held["reason_code"] == "BKN-E01", held
        assert held["reason"] == "NIP tidak ditemukan di SIASN/BKN.", held
        assert held["actor"] == "Operator Sekolah", held
        assert "Verval PTK" in held["remedy"], held
        # The teacher does not see a predikat e-Kinerja does not have.
        as_refused = cycle.as_guru(refused)
        hidden = await as_refused.request("GET", cycle.predikat_url(refused, period))
        assert hidden.status_code != 200 or hidden.json()["delivery_state"] != "terkirim"

        # One Kirim ke Guru is one trace: the principal's request, predikat's events, bkn-sync's
        # attempts (through the retry tier too) and every PUT e-Kinerja received.
        async def whole_kirim() -> dict[str, Any] | None:
            spans = await cycle.trace(kirim_trace)
            services = {s.get("localEndpoint", {}).get("serviceName") for s in spans}
            puts = [
                _target(s)
                for s in spans
                if s.get("localEndpoint", {}).get("serviceName") == "ekinerja-sim"
                and s.get("kind") == "SERVER"
            ]
            tiers = [s for s in spans if "retry-" in s.get("name", "")]
            got = {"services": services, "puts": puts, "tiers": len(tiers)}
            wanted = {"predikat", "bkn-sync", "ekinerja-sim"} <= services
            every_teacher = all(any(nip in str(p) for p in puts) for nip in nips)
            retried = len(puts) > len(nips)  # the outage made some PUTs happen again
            return got if wanted and every_teacher and retried and tiers else None

        await wait_for(whole_kirim, timeout=30, interval=0.5, what="Kirim ke Guru in one trace")

        # Every attempt is in the trace and no attempt is missing from it: per teacher, the
        # simulator's server spans for its predikat PUT equal the attempts its ledger logged
        # (faults, the outage's 503s and the accepted one alike). The refused teacher's later
        # redrive belongs to the roster fix's trace, so it is counted before that fix.
        counted: dict[str, tuple[int, int]] = {}

        async def puts_are_attempts() -> bool:
            spans = await cycle.trace(kirim_trace)
            for nip in nips:
                in_trace = sum(
                    1
                    for s in spans
                    if s.get("localEndpoint", {}).get("serviceName") == "ekinerja-sim"
                    and s.get("kind") == "SERVER"
                    and f"/predikat/{nip}/" in _target(s)
                )
                logged = await cycle.sim("GET", "/ledger/attempts", kind="predikat", nip=nip)
                counted[nip] = (in_trace, logged["count"])
            return all(spans == attempts for spans, attempts in counted.values())

        try:
            await wait_for(puts_are_attempts, timeout=30, interval=0.5, what="PUT spans")
        except TimeoutError as exc:
            raise AssertionError(f"(PUT spans, ledger attempts) per teacher: {counted}") from exc
        assert sum(attempts for _, attempts in counted.values()) > len(nips), counted

        # The Operator Sekolah fixes the NIP in Verval PTK: SIASN knows it again, and the
        # roster carries the corrected record. Nobody touches Kirim ke Guru again.
        await cycle.sim("DELETE", f"/admin/refusals/{refused.nip}")
        corrected = refused.model_copy(update={"nama": f"{refused.nama} (Verval PTK)"})
        await publish_roster(stack.kafka_bootstrap, [school.sekolah], [corrected])

        async def redriven() -> Any:
            view = await as_refused.probe(cycle.predikat_url(refused, period))
            return view if view and view["delivery_state"] == "terkirim" else None

        own = await wait_for(redriven, timeout=60, interval=0.2, what="parked predikat redriven")
        assert own["predikat"] == "BAIK", own
        assert own["reason_code"] is None, own

        # e-Kinerja: exactly one predikat (and one SKP) per teacher, whatever was retried.
        for guru in school.guru:
            assert await cycle.ledger_kinds(guru.nip) == ["predikat", "skp"], guru.nip
        summary = await cycle.sim("GET", "/ledger/summary")
        assert summary["duplicates"] == 0, summary
    finally:
        await cycle.sim("DELETE", "/admin/faults")
        await cycle.sim("DELETE", f"/admin/refusals/{refused.nip}")


def _target(span: dict[str, Any]) -> str:
    tags = span.get("tags", {})
    return str(tags.get("url.path") or tags.get("http.target") or span.get("name"))
