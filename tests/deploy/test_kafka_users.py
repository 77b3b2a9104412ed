"""deploy/k8s/kafka-users: a Strimzi KafkaUser per principal, generated from kafka_acls, and the
ACL table agrees with the subscriptions the services really register."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_manifests import K8S, KAFKA_SERVICES, base_resources, of_kind, subscriptions

from kinerja_tools import kafka_acls, strimzi
from kinerja_tools.kafka_acls import CONSUMES, KEDA, PRINCIPALS, allowed, scaled_groups

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


def test_keda_may_describe_exactly_what_the_scaled_objects_measure() -> None:
    """kafka_acls.SCALED_ON is what the ScaledObjects' kafka triggers name: KEDA's principal may
    describe each trigger's topic and group, and nothing the triggers do not name."""
    triggers = {
        (t["metadata"]["topic"], t["metadata"]["consumerGroup"])
        for scaled in of_kind(base_resources(), "ScaledObject").values()
        for t in scaled["spec"]["triggers"]
        if t["type"] == "kafka"
    }
    assert triggers
    assert triggers == set(scaled_groups()), (
        "kinerja_tools.kafka_acls.SCALED_ON differs from the ScaledObjects' kafka triggers: "
        f"only in the triggers {sorted(triggers - set(scaled_groups()))}, only in SCALED_ON "
        f"{sorted(set(scaled_groups()) - triggers)}; then regenerate users.yaml:\n"
        f"    {REGENERATE_USERS}"
    )
    acls = kafka_acls.all_acls()
    for topic, group in triggers:
        assert allowed(acls, KEDA, "Describe", "topic", topic), topic
        assert allowed(acls, KEDA, "Describe", "group", group), group
        assert not allowed(acls, KEDA, "Read", "group", group), group
