"""kinerja_tools.strimzi: the registry as Strimzi KafkaTopic resources, deterministic YAML."""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kinerja_shared.topics import all_topics
from kinerja_tools import strimzi

DNS_1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def test_a_valid_topic_name_is_its_own_resource_name() -> None:
    assert strimzi.resource_name("kinerja.bkn-sync.retry-1.v1") == "kinerja.bkn-sync.retry-1.v1"


@pytest.mark.parametrize(
    "topic_name",
    ["Kinerja.Roster.v1", "kinerja.foo_bar.v1", "__consumer_offsets", "a..b", "-x-", "x" * 300],
)
def test_an_invalid_topic_name_becomes_a_dns_1123_name_with_a_hash(topic_name: str) -> None:
    name = strimzi.resource_name(topic_name)
    assert DNS_1123_SUBDOMAIN.fullmatch(name), name
    assert len(name) <= 253


def test_names_differing_only_in_case_or_punctuation_do_not_collide() -> None:
    topics = ("kinerja.a_b.v1", "kinerja.a-b.v1", "Kinerja.a-b.v1")
    names = {strimzi.resource_name(n) for n in topics}
    assert len(names) == 3


def test_every_registry_topic_becomes_one_kafka_topic_with_its_settings() -> None:
    resources = strimzi.kafka_topics(replicas=3, cluster="kinerja")
    assert [r["spec"]["topicName"] for r in resources] == [t.name for t in all_topics()]
    for resource, topic in zip(resources, all_topics(), strict=True):
        assert resource["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert resource["kind"] == "KafkaTopic"
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == "kinerja"
        assert resource["spec"]["partitions"] == topic.partitions
        assert resource["spec"]["replicas"] == 3
        assert resource["spec"]["config"] == {**topic.config(), "min.insync.replicas": "2"}


def test_a_single_replica_cluster_accepts_writes_with_one_in_sync_replica() -> None:
    for resource in strimzi.kafka_topics(replicas=1, cluster="dev"):
        assert resource["spec"]["replicas"] == 1
        assert resource["spec"]["config"]["min.insync.replicas"] == "1"
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == "dev"


def test_zero_replicas_is_refused() -> None:
    with pytest.raises(ValueError, match="replicas"):
        strimzi.kafka_topics(replicas=0, cluster="kinerja")


def test_main_prints_the_rendered_resources(capsys: pytest.CaptureFixture[str]) -> None:
    assert strimzi.main(["--replicas", "1", "--cluster", "dev"]) == 0
    printed = capsys.readouterr().out
    assert printed == strimzi.render(replicas=1, cluster="dev")
    assert [d for d in yaml.safe_load_all(printed) if d] == strimzi.kafka_topics(1, "dev")
    assert strimzi.render() == strimzi.render(), "the output is deterministic"


_text = st.text(st.characters(codec="utf-8"), max_size=12)  # utf-8: no surrogates
_scalars = st.one_of(st.booleans(), st.integers(-(10**12), 10**12), _text)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)


@given(st.lists(st.dictionaries(_text, _values, min_size=1, max_size=5), min_size=1, max_size=3))
def test_the_yaml_emitter_round_trips_through_a_yaml_parser(
    documents: list[dict[str, object]],
) -> None:
    assert list(yaml.safe_load_all(strimzi.to_yaml(documents))) == documents
