"""``kinerja-roster import`` on the test stack's broker: the records arrive, the summary tells."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import date
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from kinerja_shared.roster import dapodik
from kinerja_shared.topics import ROSTER_PEGAWAI
from kinerja_tools.testing.cli import run_script
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra


async def _ends(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    # aiokafka 0.14 raises CancelledError from stop() if its coordinator task never ran.
    await asyncio.sleep(0)
    try:
        partitions = [TopicPartition(topic, p) for p in range(ROSTER_PEGAWAI.partitions)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def _keys_since(
    bootstrap: str, since: dict[TopicPartition, int], *, timeout: float = 30
) -> dict[str, dict[str, str]]:
    """The keys of every record after ``since`` up to the end at the time of asking, with each
    record's headers."""
    until = await _ends(bootstrap, next(iter(since)).topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    # aiokafka 0.14 raises CancelledError from stop() if its coordinator task never ran.
    await asyncio.sleep(0)
    keys: dict[str, dict[str, str]] = {}
    try:
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout
        while [tp for tp in since if await consumer.position(tp) < until[tp]]:
            assert time.monotonic() < deadline, "the roster records did not arrive"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                keys.update(
                    (r.key.decode(), {k: v.decode() for k, v in r.headers})
                    for r in records
                    if r.key is not None
                )
    finally:
        await consumer.stop()
    return keys


async def test_a_generated_roster_is_published_and_summarised(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "district.csv"
    # A fixed seed and a district of its own: every run republishes the same few keys, which
    # the compacted topics keep once, and nobody else's teachers are touched.
    generated = run_script(
        "kinerja-roster",
        *("generate", "--schools", "2", "--seed", "12", "--kode-wilayah", "9912"),
        *("--out", str(path)),
    )
    assert generated.code == 0, generated.stderr
    nips = {p.nip for p in dapodik.read(path, today=date.today()).pegawai}  # noqa: DTZ011
    before = await _ends(stack.kafka_bootstrap, ROSTER_PEGAWAI.name)

    ran = run_script(
        "kinerja-roster",
        "import",
        str(path),
        env={"KINERJA_KAFKA_BOOTSTRAP": stack.kafka_bootstrap},
    )

    assert ran.code == 0, ran.stderr
    assert ran.stderr == ""  # not a terminal: no bar, and nothing went wrong
    summary = ran.stdout.strip()
    assert summary.startswith(
        f"published {len(nips)} PTK and 2 schools ({len(nips) + 2} records) in "
    )
    assert " records/s; refused 0 rows; correlation_id " in summary
    published = await _keys_since(stack.kafka_bootstrap, before)
    assert nips <= set(published)
    # One import, one trace: every record carries its traceparent and correlation id.
    correlation = summary.rsplit(" ", 1)[1]
    for nip in nips:
        headers = published[nip]
        match = re.fullmatch(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}", headers["traceparent"])
        assert match is not None, headers
        assert headers["correlation_id"] == match.group(1) == correlation


async def test_topics_create_on_a_complete_cluster_creates_nothing(stack: Stack) -> None:
    ran = run_script(
        "kinerja-topics", "create", env={"KINERJA_KAFKA_BOOTSTRAP": stack.kafka_bootstrap}
    )

    assert (ran.code, ran.stderr) == (0, "")
    assert ran.stdout.startswith("topics: 0 created, ")
