"""The broker enforces who may do what: SCRAM-SHA-512 over TLS and the registry's ACLs.

One private broker for the module (deploy/local/kafka.sh with KINERJA_KAFKA_SASL=1, from a copy
of deploy/local in a temporary folder: kinerja_tools.testing.kafka_sasl), with the ACLs of
kinerja_tools.kafka_acls applied by that script. Real aiokafka clients log in as the principals
and are refused, or not, by the broker.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from console.kafka_view import ORIGINAL_TOPIC, DlqRecord, KafkaView, RepublishRefused
from kinerja_shared.service import make_broker
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.topics import (
    DLQS,
    PLAN_AGREED,
    PLAN_SUBMITTED,
    PREDIKAT_DITETAPKAN,
    ROSTER_PEGAWAI,
    all_topics,
)
from kinerja_tools.kafka_acls import CONSUMES, ROSTER_IMPORTER
from kinerja_tools.testing.kafka_sasl import ADMIN, SaslBroker, sasl_broker

pytestmark = pytest.mark.infra

VENV_BIN = Path(sys.executable).parent
# Short client timeouts: a refusal is an answer, not a wait.
FAST = {"request_timeout_ms": 10_000, "metadata_max_age_ms": 5_000}


@pytest.fixture(scope="module")
def broker() -> Iterator[SaslBroker]:
    with sasl_broker(Path(tempfile.mkdtemp(prefix="kinerja-kafka-sasl-"))) as running:
        yield running


@pytest.fixture(scope="module")
async def topics(broker: SaslBroker) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, **broker.client_options(ADMIN))
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t.name, num_partitions=1, replication_factor=1) for t in all_topics()]
        )
    finally:
        await admin.close()


async def _produce(broker: SaslBroker, user: str, topic: str, value: bytes = b"{}") -> None:
    """As the services' producers do: idempotent, acks=all."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap,
        enable_idempotence=True,
        acks="all",
        **FAST,
        **broker.client_options(user),
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


@pytest.mark.usefixtures("topics")
async def test_a_service_is_refused_when_it_writes_another_services_topic(
    broker: SaslBroker,
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(broker, "planning", PREDIKAT_DITETAPKAN.name)


@pytest.mark.usefixtures("topics")
async def test_a_roster_record_is_accepted_from_the_importer_only(broker: SaslBroker) -> None:
    # planning reads the roster topic (so it sees it), and still may not write it
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(broker, "planning", ROSTER_PEGAWAI.name)
    await _produce(broker, ROSTER_IMPORTER, ROSTER_PEGAWAI.name)


@pytest.mark.usefixtures("topics")
async def test_a_service_writes_its_own_topic_and_a_consumer_reads_it_with_its_group(
    broker: SaslBroker,
) -> None:
    assert PLAN_AGREED in CONSUMES["observation"]
    marker = uuid.uuid4().hex.encode()
    await _produce(broker, "planning", PLAN_AGREED.name, marker)
    consumer = AIOKafkaConsumer(
        PLAN_AGREED.name,
        bootstrap_servers=broker.bootstrap,
        group_id=f"observation:{PLAN_AGREED.name}",
        auto_offset_reset="earliest",
        **FAST,
        **broker.client_options("observation"),
    )
    await consumer.start()
    try:
        seen: list[bytes] = []
        async with asyncio.timeout(60):
            while marker not in seen:
                batch = await consumer.getmany(timeout_ms=1000)
                seen.extend(r.value for records in batch.values() for r in records if r.value)
        await consumer.commit()
    finally:
        await consumer.stop()


@pytest.mark.usefixtures("topics")
async def test_a_consumer_may_not_join_another_services_group(broker: SaslBroker) -> None:
    consumer = AIOKafkaConsumer(
        PLAN_AGREED.name,
        bootstrap_servers=broker.bootstrap,
        group_id=f"bkn-sync:{PLAN_AGREED.name}",
        auto_offset_reset="earliest",
        **FAST,
        **broker.client_options("observation"),
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            async with asyncio.timeout(60):
                await consumer.start()
    finally:
        await consumer.stop()


def _settings(broker: SaslBroker, service: str, **password: str) -> ServiceSettings:
    """A service's settings with its SCRAM login to ``broker``, the password given either way."""

    class Settings(ServiceSettings):
        db_schema: str = service
        consumer_group: str = service

    return Settings(
        database_url="postgresql://u:p@db.invalid/x",
        jwt_jwks_url="file:///jwks.json",
        kafka_bootstrap=broker.bootstrap,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username=service,
        kafka_ca_file=str(broker.ca_file),
        **password,  # type: ignore[arg-type]
    )


@pytest.mark.usefixtures("topics")
async def test_the_service_broker_logs_in_with_its_settings(broker: SaslBroker) -> None:
    settings = _settings(broker, "planning", kafka_sasl_password=broker.password("planning"))
    service_broker = make_broker("planning", settings)
    await service_broker.connect()
    try:
        await service_broker.publish(b"{}", PLAN_SUBMITTED.name, key=b"nip")
        with pytest.raises(TopicAuthorizationFailedError):
            await service_broker.publish(b"{}", PREDIKAT_DITETAPKAN.name, key=b"nip")
    finally:
        await service_broker.stop()


@pytest.mark.usefixtures("topics")
async def test_the_consoles_broker_connects_with_its_password_file_and_writes_nothing(
    broker: SaslBroker,
) -> None:
    """As the dev stack starts it: the password in a file. Its FastStream broker starts an
    idempotent producer, so it needs IdempotentWrite (and nothing more) to connect at all."""
    password_file = broker.node_dir / "users" / "console"
    settings = _settings(broker, "console", kafka_sasl_password_file=str(password_file))
    console_broker = make_broker("console", settings)
    async with asyncio.timeout(60):
        await console_broker.connect()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await console_broker.publish(b"{}", PLAN_AGREED.name, key=b"nip")
    finally:
        await console_broker.stop()


async def test_a_wrong_password_cannot_log_in(broker: SaslBroker) -> None:
    async def log_in(password: str) -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=broker.bootstrap,
            request_timeout_ms=10_000,
            **broker.client_options("planning", password=password),
        )
        try:
            async with asyncio.timeout(30):
                await admin.start()
        finally:
            await admin.close()

    right = broker.password("planning")
    await log_in(right)  # the same client, host and port log in with the right one
    # aiokafka logs the broker's SaslAuthenticate refusal and gives up bootstrapping
    with pytest.raises(KafkaConnectionError):
        await log_in("not-" + right)


async def test_a_client_without_tls_cannot_use_the_sasl_ssl_port(broker: SaslBroker) -> None:
    for options in (
        {},  # PLAINTEXT, what every client uses today
        {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": "planning",
            "sasl_plain_password": broker.password("planning"),
        },
    ):
        admin = AIOKafkaAdminClient(
            bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000, **options
        )
        try:
            with pytest.raises(KafkaError):
                async with asyncio.timeout(30):
                    await admin.start()
        finally:
            await admin.close()


@pytest.mark.usefixtures("topics")
async def test_the_console_reads_lag_and_dead_letters_with_its_own_login(
    broker: SaslBroker,
) -> None:
    # observation's group a record behind on plan-agreed.
    await _produce(broker, "planning", PLAN_AGREED.name)
    tp = TopicPartition(PLAN_AGREED.name, 0)
    committer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=f"observation:{PLAN_AGREED.name}",
        enable_auto_commit=False,
        **FAST,
        **broker.client_options("observation"),
    )
    await committer.start()
    try:
        committer.assign([tp])
        end = (await committer.end_offsets([tp]))[tp]
        await committer.commit({tp: end - 1})
    finally:
        await committer.stop()

    view = KafkaView(broker.bootstrap, {**FAST, **broker.client_options("console")})
    try:
        [lag] = await view.lag(["observation"])
        assert lag.topics.get(PLAN_AGREED.name) == 1
        dlq = DLQS[0].name
        assert (await view.sizes([dlq]))[dlq] == 0
        assert await view.records(dlq, newest=5) == []
    finally:
        await view.close()


@pytest.mark.usefixtures("topics")
async def test_the_consoles_republish_is_refused_by_the_broker_and_said_so(
    broker: SaslBroker,
) -> None:
    """Writing a dead letter back to its topic is its owner's right alone: the console's
    principal is refused, and the view says why instead of failing."""
    tp = TopicPartition(PLAN_AGREED.name, 0)
    reader = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, **FAST, **broker.client_options(ADMIN)
    )
    await reader.start()
    try:
        before = (await reader.end_offsets([tp]))[tp]
        record = DlqRecord(
            topic=DLQS[0].name,
            partition=0,
            offset=0,
            key="197001012000011001",
            value=b"{}",
            timestamp=datetime.now(UTC),
            headers={ORIGINAL_TOPIC: PLAN_AGREED.name},
        )
        view = KafkaView(broker.bootstrap, {**FAST, **broker.client_options("console")})
        try:
            with pytest.raises(RepublishRefused, match=PLAN_AGREED.name):
                async with asyncio.timeout(60):
                    await view.republish(record)
        finally:
            await view.close()
        assert (await reader.end_offsets([tp]))[tp] == before
    finally:
        await reader.stop()


def _tool(
    broker: SaslBroker, argv: list[str], prefix: str, user: str
) -> subprocess.CompletedProcess[str]:
    """A command-line tool as the dev stack runs it: its login from variables under its own
    prefix, the password in a file (deploy/local/env.sh)."""
    login = {
        f"{prefix}SECURITY_PROTOCOL": "SASL_SSL",
        f"{prefix}SASL_USERNAME": user,
        f"{prefix}SASL_PASSWORD_FILE": str(broker.node_dir / "users" / user),
        f"{prefix}CA_FILE": str(broker.ca_file),
    }
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **login}
    return subprocess.run(
        [str(VENV_BIN / argv[0]), *argv[1:], "--bootstrap", broker.bootstrap],
        env={**env, "OTEL_TRACES_EXPORTER": "none"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.usefixtures("topics")
def test_the_tools_log_in_from_their_variables_and_only_the_importer_writes_the_roster(
    broker: SaslBroker, tmp_path: Path
) -> None:
    topics = _tool(broker, ["kinerja-topics", "create"], "KINERJA_KAFKA_", ADMIN)
    assert topics.returncode == 0, topics.stderr
    assert "0 created" in topics.stdout

    roster = tmp_path / "district.csv"
    subprocess.run(
        [str(VENV_BIN / "kinerja-roster"), "generate", "--schools", "1", "--out", str(roster)],
        check=True,
        capture_output=True,
    )
    refused = _tool(
        broker, ["kinerja-roster", "import", str(roster)], "KINERJA_ROSTER_KAFKA_", "planning"
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "does not allow this to the principal of KINERJA_ROSTER_KAFKA_SASL_USERNAME" in (
        refused.stderr
    )
    imported = _tool(
        broker, ["kinerja-roster", "import", str(roster)], "KINERJA_ROSTER_KAFKA_", ROSTER_IMPORTER
    )
    assert imported.returncode == 0, imported.stderr
    assert "published" in imported.stdout
