"""Start a test's consumer groups at the current end of every topic.

Tests share one broker and its topics; a fresh group with ``auto_offset_reset=earliest`` would
first chew through everything earlier tests published. Committing the end offsets before the
service starts makes it consume only what the test itself does, exactly as a group that has
been running all along would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from kinerja_shared.topics import all_topics


async def _end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    # aiokafka 0.14 raises CancelledError from stop() if its coordinator task never ran.
    await asyncio.sleep(0)
    try:
        # The registry created the topics, so it knows their partitions.
        partitions = [TopicPartition(t.name, p) for t in all_topics() for p in range(t.partitions)]
        ends: dict[TopicPartition, int] = await reader.end_offsets(partitions)
        return ends
    finally:
        await reader.stop()


async def _commit(bootstrap: str, group_id: str, offsets: dict[TopicPartition, int]) -> None:
    committer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await committer.start()
    try:
        committer.assign(list(offsets))
        await committer.commit(offsets)
    finally:
        await committer.stop()


async def start_groups_at_end(bootstrap: str, groups: Iterable[str]) -> None:
    """For each service consumer group, commit the end of every registered topic for each of
    its per-subscription groups (``<group>:<topic>``, see kinerja_shared.inbox)."""
    ends = await _end_offsets(bootstrap)
    for group in groups:
        for topic in all_topics():
            offsets = {tp: off for tp, off in ends.items() if tp.topic == topic.name}
            await _commit(bootstrap, f"{group}:{topic.name}", offsets)


async def start_group_at_end(bootstrap: str, group_id: str, topic: str) -> None:
    """One plain consumer group (e.g. another team's consumer) at the end of one topic."""
    ends = await _end_offsets(bootstrap)
    await _commit(bootstrap, group_id, {tp: o for tp, o in ends.items() if tp.topic == topic})
