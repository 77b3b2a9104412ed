from __future__ import annotations

import httpx
from hypothesis import given
from hypothesis import strategies as st

from ekinerja_sim.ledger import Accepted, Ledger, Replay
from ekinerja_sim.records import RecordKind, Target

from .conftest import NIP, PERIOD, Put


async def test_summary_counts_accepted_attempts_and_targets(
    put: Put, client: httpx.AsyncClient
) -> None:
    await put("skp", key="skp-1", version=1)
    await put("skp", key="skp-1", version=1)  # replay
    await put("skp", key="skp-2", version=2)
    await put("predikat", key="pred-1", predikat="SANGAT_BAIK")
    await put("penilaian-periodik", key="per-1", n=3)
    await put("skp", key="old", version=1)  # stale

    summary = (await client.get("/ledger/summary")).json()

    assert summary["accepted"] == {"skp": 2, "penilaian-periodik": 1, "predikat": 1}
    assert summary["accepted_total"] == 4
    assert summary["attempts"] == 6
    assert summary["duplicates"] == 0
    assert summary["outcomes"] == {"accepted": 4, "replayed": 1, "stale": 1}
    targets = {
        (t["kind"], t["n"]): (t["accepted"], t["current_version"]) for t in summary["targets"]
    }
    assert targets == {
        ("skp", None): (2, 2),
        ("predikat", None): (1, 1),
        ("penilaian-periodik", 3): (1, 1),
    }


async def test_ledger_lists_accepted_records_with_key_version_and_time(
    put: Put, client: httpx.AsyncClient
) -> None:
    await put("skp", key="skp-1", version=4, unor="U-1")

    [record] = (await client.get("/ledger")).json()["records"]

    assert record["kind"] == "skp"
    assert (record["nip"], record["period"]) == (NIP, PERIOD)
    assert (record["key"], record["version"]) == ("skp-1", 4)
    assert record["received_at"].endswith("+00:00")
    assert record["record"]["unor"] == "U-1"


async def test_ledger_filters_by_kind_nip_and_period(put: Put, client: httpx.AsyncClient) -> None:
    other = "199001012015052002"
    await put("skp", key="a")
    await put("skp", key="b", nip=other)
    await put("skp", key="c", period="2024")
    await put("predikat", key="d")

    by_nip = (await client.get("/ledger", params={"nip": other})).json()
    by_period = (await client.get("/ledger", params={"period": "2024"})).json()
    by_kind = (await client.get("/ledger", params={"kind": "predikat"})).json()

    assert [r["key"] for r in by_nip["records"]] == ["b"]
    assert [r["key"] for r in by_period["records"]] == ["c"]
    assert [r["key"] for r in by_kind["records"]] == ["d"]
    assert by_kind["counts"]["predikat"] == 1


async def test_attempts_log_every_request_with_status_and_fault(
    put: Put, client: httpx.AsyncClient
) -> None:
    await client.put(
        "/admin/faults", json={"rules": [{"fault": "error", "statuses": [503], "times": 1}]}
    )
    await put("skp", key="k")
    await put("skp", key="k")
    await put("skp", key=None)

    attempts = (await client.get("/ledger/attempts")).json()["attempts"]

    assert [(a["key"], a["status"], a["fault"], a["outcome"]) for a in attempts] == [
        ("k", 503, "error", "fault"),
        ("k", 201, None, "accepted"),
        (None, 400, None, "invalid"),
    ]


async def test_reset_clears_ledger_and_faults(put: Put, client: httpx.AsyncClient) -> None:
    await put("skp", key="k")
    await client.put("/admin/faults", json={"outage_seconds": 60})

    await client.post("/admin/reset")

    summary = (await client.get("/ledger/summary")).json()
    assert (summary["accepted_total"], summary["attempts"]) == (0, 0)
    assert (await client.get("/admin/faults")).json()["outage_remaining_seconds"] is None


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}


_writes = st.lists(
    st.tuples(st.sampled_from(["k1", "k2", "k3", "k4"]), st.integers(min_value=0, max_value=3)),
    max_size=30,
)


@given(_writes)
def test_ledger_never_accepts_a_key_twice_and_keeps_the_highest_version(
    writes: list[tuple[str, int]],
) -> None:
    ledger = Ledger()
    target = Target(RecordKind.SKP, NIP, PERIOD)
    accepted: list[int] = []
    for key, version in writes:
        if ledger.lookup_key(key, target, version) is not None:
            continue
        result = ledger.write(target, key, version, {"version": version})
        if isinstance(result, Accepted):
            accepted.append(version)
            assert isinstance(ledger.lookup_key(key, target, version), Replay)

    summary = ledger.summary()
    assert summary["duplicates"] == 0
    assert summary["accepted_total"] == len(accepted)
    assert accepted == sorted(accepted)
    current = ledger.current(target)
    assert (current.version if current else None) == (max(accepted) if accepted else None)
