"""The console's lag view on the real broker: a service's per-subscription groups summed under
its name, from committed offsets against the ends of the topics."""

from __future__ import annotations

import secrets

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from console.kafka_view import KafkaView
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra


async def _commit(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    # No auto-commit: on stop it would commit the position the consumer's fetcher had reached
    # by then (the end of the topic, its reset policy) over the offset given here.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(offset, "")})
    finally:
        await consumer.stop()


async def test_lag_sums_a_services_subscription_groups_and_ignores_other_services(
    stack: Stack,
) -> None:
    tag = secrets.token_hex(4)
    topics = [f"kinerja.test-lag-{tag}.a", f"kinerja.test-lag-{tag}.b"]
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in topics])
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    view = KafkaView(stack.kafka_bootstrap)
    try:
        for topic, n in zip(topics, (5, 7), strict=True):
            for i in range(n):
                await producer.send_and_wait(topic, f"{i}".encode())
        a, b = (TopicPartition(t, 0) for t in topics)
        service, other = f"svc-{tag}", f"svc-{tag}-other"
        await _commit(stack.kafka_bootstrap, f"{service}:{topics[0]}", a, 2)  # 3 behind
        await _commit(stack.kafka_bootstrap, f"{service}:{topics[1]}", b, 7)  # caught up
        await _commit(stack.kafka_bootstrap, f"{other}:{topics[1]}", b, 1)  # 6 behind

        expected = [
            (service, 3, {topics[0]: 3, topics[1]: 0}),
            (other, 6, {topics[1]: 6}),
        ]
        seen = [(g.group, g.lag, g.topics) for g in await view.lag([service, other])]
        assert seen == expected
    finally:
        await view.close()
        await producer.stop()
        await admin.delete_topics(topics)
        await admin.close()
