"""A service's broker never makes a topic: that is kinerja-topics' job, with the registry's
partitions and cleanup policy (a topic made by a subscriber that started first would keep the
client's defaults, since kinerja-topics leaves existing topics alone)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError
from faststream.kafka.annotations import KafkaMessage
from pydantic_settings import SettingsConfigDict

from kinerja_shared.service import make_broker
from kinerja_shared.settings import ServiceSettings
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KTOPICS_", extra="ignore")
    db_schema: str = "planning"
    consumer_group: str = "planning"


async def test_a_subscriber_to_a_missing_topic_does_not_create_it(stack: Stack) -> None:
    missing = f"kinerja.test-{secrets.token_hex(4)}.not-provisioned.v1"
    settings = Settings(
        database_url="postgresql://u:p@db.invalid/x",
        jwt_jwks_url="file:///jwks.json",
        kafka_bootstrap=stack.kafka_bootstrap,
    )
    broker = make_broker("planning", settings)

    @broker.subscriber(missing, group_id=f"planning.test-{secrets.token_hex(4)}:{missing}")
    async def handle(msg: KafkaMessage) -> None:  # pragma: no cover - nothing is published
        del msg

    # Without the topic, aiokafka's consumer waits for it (request_timeout_ms) and gives up;
    # a broker that made topics would have made it before that wait, at once.
    with contextlib.suppress(TimeoutError, UnknownTopicOrPartitionError):
        async with asyncio.timeout(10):
            await broker.start()
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
        await admin.start()
        try:
            assert missing not in await admin.list_topics()
        finally:
            await admin.close()
    finally:
        await broker.stop()
