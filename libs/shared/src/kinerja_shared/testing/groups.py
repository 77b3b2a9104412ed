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

from ..topics import all_topics


async def start_groups_at_end(bootstrap: str, groups: Iterable[str]) -> None:
    """For each service consumer group, commit the end of every registered topic for each of
    its per-subscription groups (``<group>:<topic>``, see kinerja_shared.inbox)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    # aiokafka 0.14 raises CancelledError from stop() if its coordinator task never ran.
    await asyncio.sleep(0)
    try:
        # The registry created the topics, so it knows their partitions.
        partitions = [TopicPartition(t.name, p) for t in all_topics() for p in range(t.partitions)]
        ends = await reader.end_offsets(partitions)
    finally:
        await reader.stop()
    for group in groups:
        for topic in all_topics():
            offsets = {tp: off for tp, off in ends.items() if tp.topic == topic.name}
            committer = AIOKafkaConsumer(
                bootstrap_servers=bootstrap,
                group_id=f"{group}:{topic.name}",
                enable_auto_commit=False,
            )
            await committer.start()
            try:
                committer.assign(list(offsets))
                await committer.commit(offsets)
            finally:
                await committer.stop()
