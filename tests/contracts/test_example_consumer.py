"""examples/predikat_consumer reads what our producer writes, on the real topic.

The example declares its own models (a consumer team has none of our code); the envelopes here
come from OUR models, so this is the contract checked from both ends: a version, a redelivery of
it, a correction, and a late older version.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from faststream.kafka import KafkaBroker

from kinerja_shared.events.predikat import PredikatDitetapkan
from kinerja_shared.topics import PREDIKAT_DITETAPKAN
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.groups import start_group_at_end
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra

APP = Path(__file__).resolve().parents[2] / "examples" / "predikat_consumer" / "app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("predikat_consumer_example", APP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pydantic resolve annotations through it
    spec.loader.exec_module(module)
    return module


def unique_nip() -> str:
    return f"1990{secrets.randbelow(10**14):014d}"


def predikat(nip: str, version: int, value: str, reason: str | None = None) -> PredikatDitetapkan:
    return PredikatDitetapkan(
        nip=nip,
        npsn="20100001",
        period_id="2025",
        version=version,
        predikat=value,
        hasil_kerja="SESUAI_EKSPEKTASI",
        perilaku_kerja="DI_ATAS_EKSPEKTASI",
        predikat_organisasi="BAIK",
        penilai_nip="197001011995011001",
        ditetapkan_at=datetime(2025, 12, 15, 9, 0, tzinfo=UTC),
        correction_reason=reason,
    )


async def test_example_keeps_the_highest_version_once(stack: Stack, tmp_path: Path) -> None:
    example = load_example()
    nip = unique_nip()
    settings = example.Settings(
        bootstrap=stack.kafka_bootstrap,
        group=f"example-consumer-{secrets.token_hex(4)}",
        store_path=str(tmp_path / "store.sqlite3"),
    )
    store = example.Store(settings.store_path)
    store.init()
    consumer = example.create_broker(settings, store)
    # The example starts a new group at the oldest record, as a consumer team's would; here
    # that is every predikat other tests and benchmarks ever published on this broker.
    await start_group_at_end(stack.kafka_bootstrap, settings.group, PREDIKAT_DITETAPKAN.name)

    first = PREDIKAT_DITETAPKAN.envelope(nip, predikat(nip, 1, "BAIK"))
    correction = PREDIKAT_DITETAPKAN.envelope(
        nip, predikat(nip, 2, "SANGAT_BAIK", reason="Nilai perilaku kerja dikoreksi.")
    )
    # An older version under a new event id, e.g. re-emitted late: must not win.
    late = PREDIKAT_DITETAPKAN.envelope(nip, predikat(nip, 1, "BAIK"))
    headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}

    producer = KafkaBroker(stack.kafka_bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    await consumer.start()
    try:
        for envelope in (first, first, correction, late):  # the second `first`: a redelivery
            await producer.publish(
                envelope.model_dump_json().encode(),
                PREDIKAT_DITETAPKAN.name,
                key=nip.encode(),
                headers=headers,
            )

        async def late_one_processed() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = store.processed(nip)
            return rows if any(r["event_id"] == str(late.event_id) for r in rows) else []

        # One key, one partition, in order: once the last record is processed, all were.
        processed = await wait_for(
            late_one_processed, timeout=60, what=f"the example to process {nip}'s records"
        )
    finally:
        await consumer.stop()
        await producer.stop()

    by_event = {r["event_id"]: r for r in processed}
    assert len(processed) == 3
    assert by_event[str(first.event_id)]["outcome"] == "applied"
    assert by_event[str(first.event_id)]["deliveries"] == 2  # the duplicate was seen, ignored
    assert by_event[str(correction.event_id)]["outcome"] == "applied"
    assert by_event[str(late.event_id)]["outcome"] == "stale"

    current = store.current(nip, "2025")
    assert current is not None
    assert current["version"] == 2
    assert current["predikat"] == "SANGAT_BAIK"
    assert current["correction_reason"] == "Nilai perilaku kerja dikoreksi."
    assert current["event_id"] == str(correction.event_id)
    assert current["writes"] == 2  # version 1 once, version 2 once; nothing else wrote it
