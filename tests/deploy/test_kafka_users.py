"""deploy/k8s/kafka-users: a Strimzi KafkaUser per principal, generated from kafka_acls, and the
ACL table agrees with the subscriptions the services really register."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_manifests import K8S, KAFKA_SERVICES, subscriptions

from kinerja_tools import kafka_acls, strimzi
from kinerja_tools.kafka_acls import CONSUMES, PRINCIPALS, allowed

USERS = K8S / "kafka-users" / "users.yaml"
REGENERATE_USERS = (
    ".venv/bin/python -m kinerja_tools.strimzi --users > deploy/k8s/kafka-users/users.yaml"
)


def test_committed_users_yaml_is_what_kafka_acls_generates_now() -> None:
    assert USERS.read_text() == strimzi.render_users(), (
        "deploy/k8s/kafka-users/users.yaml is not what kinerja_tools.strimzi generates from "
        "kinerja_tools.kafka_acls now. Regenerate it from the repository root:\n"
        f"    {REGENERATE_USERS}"
    )


def test_one_scram_user_per_principal_with_exactly_its_acls() -> None:
    users = [d for d in yaml.safe_load_all(USERS.read_text()) if d]
    assert [u["metadata"]["name"] for u in users] == list(PRINCIPALS)
    for user in users:
        principal = user["metadata"]["name"]
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "kinerja"
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["spec"]["authorization"]["type"] == "simple"
        granted = {
            (
                rule["resource"]["type"],
                rule["resource"].get("name", kafka_acls.CLUSTER_RESOURCE),
                rule["resource"].get("patternType", "literal"),
                op,
            )
            for rule in user["spec"]["authorization"]["acls"]
            for op in rule["operations"]
        }
        expected = {
            (a.resource_type, a.name, a.pattern, a.operation)
            for a in kafka_acls.acls_for(principal)
        }
        assert granted == expected, principal


def test_main_prints_the_users(capsys: pytest.CaptureFixture[str]) -> None:
    assert strimzi.main(["--users", "--cluster", "dev"]) == 0
    printed = capsys.readouterr().out
    assert [d for d in yaml.safe_load_all(printed) if d] == strimzi.kafka_users("dev")


@pytest.mark.parametrize("service", KAFKA_SERVICES)
def test_each_service_may_read_every_topic_and_group_it_subscribes_to(service: str) -> None:
    acls = kafka_acls.all_acls()
    real = subscriptions(service)
    assert real, service
    for topic, group in real:
        assert allowed(acls, service, "Read", "topic", topic), (service, topic)
        assert allowed(acls, service, "Read", "group", group), (service, group)
    assert {t for t, _ in real} == {t.name for t in CONSUMES[service]}, service


def test_the_users_file_has_no_secret() -> None:
    text = Path(USERS).read_text().lower()
    assert "password" not in text
