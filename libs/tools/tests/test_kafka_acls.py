"""kinerja_tools.kafka_acls: each principal's Kafka rights, derived from the topic registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from kinerja_shared.topics import (
    BKN_RETRY_TIERS,
    DLQS,
    PREDIKAT_DITETAPKAN,
    REGISTRY,
    ROSTER_PEGAWAI,
    ROSTER_SEKOLAH,
    SERVICES,
    all_topics,
    dlq_name,
)
from kinerja_tools import kafka_acls
from kinerja_tools.kafka_acls import (
    CONSUMES,
    KEDA,
    PRINCIPALS,
    ROSTER_IMPORTER,
    SCALED_ON,
    acls_for,
    all_acls,
    allowed,
    owner_of,
    writers_of,
)


def test_the_roster_topics_are_writable_by_the_roster_importer_only() -> None:
    for topic in (ROSTER_PEGAWAI, ROSTER_SEKOLAH):
        assert writers_of(topic.name) == {ROSTER_IMPORTER}
    assert {a.name for a in acls_for(ROSTER_IMPORTER) if a.operation == "Write"} == {
        ROSTER_PEGAWAI.name,
        ROSTER_SEKOLAH.name,
    }


def test_every_topic_has_exactly_one_writer_its_owner() -> None:
    for topic in all_topics():
        assert writers_of(topic.name) == {owner_of(topic)}, topic.name


def test_no_service_writes_another_services_topic() -> None:
    acls = all_acls()
    for principal in PRINCIPALS:
        for topic in all_topics():
            if owner_of(topic) != principal:
                assert not allowed(acls, principal, "Write", "topic", topic.name), (
                    principal,
                    topic.name,
                )


def test_a_registry_topic_belongs_to_the_service_in_its_name() -> None:
    for topic in REGISTRY:
        expected = ROSTER_IMPORTER if topic.producer == "roster" else topic.producer
        assert owner_of(topic) == expected
        assert expected in PRINCIPALS
    for service, dlq in zip(SERVICES, DLQS, strict=True):
        assert dlq.name == dlq_name(service)
        assert owner_of(dlq) == service
    assert {owner_of(t) for t in BKN_RETRY_TIERS} == {"bkn-sync"}


def test_each_consumer_reads_what_it_consumes_with_its_groups() -> None:
    acls = all_acls()
    for principal, topics in CONSUMES.items():
        for topic in topics:
            assert allowed(acls, principal, "Read", "topic", topic.name), (principal, topic)
            # the groups a service joins: "<group>:<topic>" and "<group>.<suffix>:<topic>"
            for group in (f"{principal}:{topic.name}", f"{principal}.blue:{topic.name}"):
                assert allowed(acls, principal, "Read", "group", group), (principal, group)


def test_nobody_reads_what_it_does_not_consume_or_joins_anothers_group() -> None:
    acls = all_acls()
    assert not allowed(acls, "planning", "Read", "topic", PREDIKAT_DITETAPKAN.name)
    assert not allowed(acls, "planning", "Read", "group", f"predikat:{ROSTER_PEGAWAI.name}")
    # a prefix must not reach a group whose name merely starts with the service's name
    assert not allowed(acls, "planning", "Read", "group", "planning-evil:x")
    for principal in PRINCIPALS:
        reads = {a.name for a in acls_for(principal) if a.operation == "Read"}
        topic_reads = {n for n in reads if n.startswith("kinerja.")}
        assert topic_reads == {t.name for t in CONSUMES[principal]}, principal
    assert not [a for a in acls_for(ROSTER_IMPORTER) if a.operation == "Read"]


def test_every_producer_may_write_idempotently_and_describe_its_topics_configs() -> None:
    acls = all_acls()
    for principal in PRINCIPALS:
        produces = any(a.operation == "Write" for a in acls_for(principal))
        # The console's FastStream broker starts an idempotent producer that never writes.
        starts_a_producer = produces or principal == "console"
        assert allowed(acls, principal, "IdempotentWrite", "cluster", "kafka-cluster") is (
            starts_a_producer
        )
    for topic in all_topics():
        assert allowed(acls, owner_of(topic), "DescribeConfigs", "topic", topic.name)


def test_the_console_sees_every_group_and_topic_but_writes_nothing() -> None:
    acls = all_acls()
    assert not [a for a in acls_for("console") if a.operation == "Write"]
    for topic in all_topics():
        assert allowed(acls, "console", "Describe", "topic", topic.name)
    for service in SERVICES:
        assert allowed(
            acls, "console", "Describe", "group", f"{service}:{PREDIKAT_DITETAPKAN.name}"
        )
        assert not allowed(acls, "console", "Read", "group", f"{service}:x")


def test_keda_describes_exactly_the_scaled_topics_and_groups_and_nothing_else() -> None:
    acls = all_acls()
    expected = set()
    for service, topics in SCALED_ON.items():
        assert service in SERVICES
        for topic in topics:
            # KEDA measures the lag of the group the service's subscriber really uses.
            assert topic in CONSUMES[service], (service, topic.name)
            group = f"{service}:{topic.name}"
            assert allowed(acls, KEDA, "Describe", "topic", topic.name)
            assert allowed(acls, KEDA, "Describe", "group", group)
            assert not allowed(acls, KEDA, "Read", "group", group)
            assert not allowed(acls, KEDA, "Read", "topic", topic.name)
            expected |= {("topic", topic.name), ("group", group)}
    mine = acls_for(KEDA)
    assert {(a.resource_type, a.name) for a in mine} == expected
    assert {(a.operation, a.pattern) for a in mine} == {("Describe", "literal")}
    # Not another group of the service, nor a group of a topic it is not scaled on.
    assert not allowed(acls, KEDA, "Describe", "group", f"planning:{ROSTER_SEKOLAH.name}")
    assert not allowed(acls, KEDA, "Describe", "group", "planning.blue:x")
    assert not allowed(acls, KEDA, "Describe", "topic", ROSTER_SEKOLAH.name)
    assert not allowed(acls, KEDA, "IdempotentWrite", "cluster", "kafka-cluster")
    assert not writers_of(PREDIKAT_DITETAPKAN.name) & {KEDA}


def test_the_bindings_are_deterministic_and_unique() -> None:
    acls = all_acls()
    assert acls == all_acls()
    assert len(set(acls)) == len(acls)


def test_an_unknown_principal_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown principal"):
        acls_for("mallory")


def test_wire_tuples_use_kafkas_codes() -> None:
    acl = kafka_acls.Acl("planning", "group", "planning:", "prefix", "Read")
    assert kafka_acls.wire_tuple(acl) == (3, "planning:", 4, "User:planning", "*", 3, 3)
    cluster = kafka_acls.Acl("planning", "cluster", "kafka-cluster", "literal", "IdempotentWrite")
    assert kafka_acls.wire_tuple(cluster) == (4, "kafka-cluster", 3, "User:planning", "*", 12, 3)


def test_the_table_names_every_principal(capsys: pytest.CaptureFixture[str]) -> None:
    assert kafka_acls.main(["table"]) == 0
    out = capsys.readouterr().out
    for principal in PRINCIPALS:
        assert f"| `{principal}` |" in out


def test_docs_security_shows_the_current_table() -> None:
    doc = Path(__file__).resolve().parents[3] / "docs" / "security.md"
    assert kafka_acls.markdown_table() in doc.read_text(), (
        "docs/security.md §8.2 is not what `python -m kinerja_tools.kafka_acls table` prints now"
    )
