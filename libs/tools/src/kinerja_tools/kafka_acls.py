"""Who may do what on Kafka, derived from the topic registry (``kinerja_shared.topics``).

One principal per service (``planning``, ``observation``, ``assessment``, ``predikat``,
``bkn-sync``, ``console``) and ``roster-importer``, the only writer of the roster topics
(``kinerja.roster.*``, published by ``kinerja-roster import``). Each may:

- WRITE (and DESCRIBE, DESCRIBE_CONFIGS: the outbox relay asks a topic's limits before it
  sends) the topics it owns: the registry topics whose ``producer`` it is, its DLQ and, for
  bkn-sync, its retry tiers;
- READ (and DESCRIBE) the topics it consumes (``CONSUMES``: the registry names no consumers, the
  services' subscribers do; this table is theirs, kept beside the registry);
- READ its consumer groups, by prefix: a service's groups are ``<consumer_group>:<topic>``, and
  ``<consumer_group>.<suffix>:<topic>`` for a test run or a blue/green deployment;
- IDEMPOTENT_WRITE on the cluster (every producer sets ``enable_idempotence``; the console's
  FastStream broker starts one too, though it writes nothing).

The console reads without a group (DLQ records, end offsets) except for the delivery-status
history, and lists every service's groups and their lag: DESCRIBE on every topic and on every
service's groups. It writes nothing: republishing a DLQ record to the topic it came from needs a
decision (docs/security.md, "Kafka").

``keda`` is KEDA's kafka scaler on Kubernetes (deploy/k8s/base/kafka-auth), which measures the
lag the ScaledObjects scale on: DESCRIBE on exactly the topics and the consumer groups their
kafka triggers name (``SCALED_ON``: ``<service>:<topic>``), nothing else. It reads no record,
joins no group and writes nothing.

Everything here is pure data; ``kinerja_tools.strimzi`` renders it as Strimzi ``KafkaUser``
resources and ``python -m kinerja_tools.kafka_acls apply`` creates the bindings on a broker
with the StandardAuthorizer (deploy/local/kafka.sh, ``KINERJA_KAFKA_SASL=1``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from kinerja_shared.kafka_login import KafkaLogin
from kinerja_shared.topics import (
    ASSESSMENT_RECOMMENDED,
    BKN_DELIVERY_STATUS,
    BKN_RETRY_TIERS,
    COMPETENCY_REPORTED,
    DLQS,
    DUTY_REPORTED,
    FOLLOWUP_REFLECTED,
    OBSERVATION_CONDUCTED,
    PLAN_AGREED,
    PLAN_REVISED,
    PREDIKAT_DITETAPKAN,
    ROSTER_PEGAWAI,
    ROSTER_SEKOLAH,
    SERVICES,
    RawTopic,
    Topic,
    all_topics,
    dlq_name,
)

ROSTER_IMPORTER = "roster-importer"
CONSOLE = "console"
KEDA = "keda"
PRINCIPALS: tuple[str, ...] = (*SERVICES, CONSOLE, ROSTER_IMPORTER, KEDA)

ResourceType = Literal["topic", "group", "cluster"]
PatternType = Literal["literal", "prefix"]
Operation = Literal["Read", "Write", "Describe", "DescribeConfigs", "IdempotentWrite"]

CLUSTER_RESOURCE = "kafka-cluster"
_ROSTER = (ROSTER_PEGAWAI, ROSTER_SEKOLAH)

# What each service subscribes to (services/*/handlers.py, kinerja_shared.roster.projection).
CONSUMES: dict[str, tuple[Topic[Any] | RawTopic, ...]] = {
    "planning": _ROSTER,
    "observation": (*_ROSTER, PLAN_AGREED),
    "assessment": (
        *_ROSTER,
        PLAN_AGREED,
        PLAN_REVISED,
        OBSERVATION_CONDUCTED,
        FOLLOWUP_REFLECTED,
        COMPETENCY_REPORTED,
        DUTY_REPORTED,
    ),
    "predikat": (*_ROSTER, ASSESSMENT_RECOMMENDED, BKN_DELIVERY_STATUS),
    "bkn-sync": (*_ROSTER, PLAN_AGREED, PREDIKAT_DITETAPKAN, *BKN_RETRY_TIERS),
    # console/history.py (with a group); kafka_view.py reads the DLQs without one.
    CONSOLE: (BKN_DELIVERY_STATUS, *DLQS),
    ROSTER_IMPORTER: (),
    KEDA: (),
}

# The topics KEDA scales each service on: one kafka trigger per topic in
# deploy/k8s/base/<service>/scaledobject.yaml, on the service's group ``<service>:<topic>``
# (tests/deploy/test_kafka_users.py checks this against the ScaledObjects).
SCALED_ON: dict[str, tuple[Topic[Any] | RawTopic, ...]] = {
    "planning": (ROSTER_PEGAWAI,),
    "observation": (PLAN_AGREED,),
    "assessment": (
        PLAN_AGREED,
        PLAN_REVISED,
        OBSERVATION_CONDUCTED,
        FOLLOWUP_REFLECTED,
        COMPETENCY_REPORTED,
        DUTY_REPORTED,
    ),
    "predikat": (ASSESSMENT_RECOMMENDED, BKN_DELIVERY_STATUS),
    "bkn-sync": (PLAN_AGREED, PREDIKAT_DITETAPKAN),
}


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW binding: ``principal`` may ``operation`` on the resource, from any host."""

    principal: str
    resource_type: ResourceType
    name: str
    pattern: PatternType
    operation: Operation

    @property
    def kafka_principal(self) -> str:
        return f"User:{self.principal}"

    def matches(self, resource_type: ResourceType, name: str) -> bool:
        if resource_type != self.resource_type:
            return False
        return name == self.name if self.pattern == "literal" else name.startswith(self.name)


def owner_of(topic: Topic[Any] | RawTopic) -> str:
    """The principal that writes ``topic``: its producer, or the roster importer."""
    if isinstance(topic, Topic):
        return ROSTER_IMPORTER if topic.producer == "roster" else topic.producer
    for service in SERVICES:
        if topic.name == dlq_name(service) or topic.name.startswith(f"kinerja.{service}."):
            return service
    raise ValueError(f"no owner for {topic.name}")


def owned_topics(principal: str) -> tuple[Topic[Any] | RawTopic, ...]:
    return tuple(t for t in all_topics() if owner_of(t) == principal)


def group_prefixes(consumer_group: str) -> tuple[str, str]:
    """The prefixes of every group a service with ``consumer_group`` joins."""
    return (f"{consumer_group}:", f"{consumer_group}.")


def scaled_groups() -> tuple[tuple[str, str], ...]:
    """(topic, consumer group) of every kafka trigger of the ScaledObjects."""
    return tuple(
        (topic.name, f"{service}:{topic.name}")
        for service, topics in SCALED_ON.items()
        for topic in topics
    )


def acls_for(principal: str) -> tuple[Acl, ...]:
    """Every ALLOW binding of ``principal``, deterministic order, no duplicates."""
    if principal not in PRINCIPALS:
        raise ValueError(f"unknown principal {principal!r}; one of {', '.join(PRINCIPALS)}")
    out: list[Acl] = []

    def add(kind: ResourceType, name: str, pattern: PatternType, *ops: Operation) -> None:
        for op in ops:
            acl = Acl(principal, kind, name, pattern, op)
            if acl not in out:
                out.append(acl)

    owned = owned_topics(principal)
    for topic in owned:
        add("topic", topic.name, "literal", "Write", "Describe", "DescribeConfigs")
    for topic in CONSUMES[principal]:
        add("topic", topic.name, "literal", "Read", "Describe")
    if CONSUMES[principal]:
        for prefix in group_prefixes(principal):
            add("group", prefix, "prefix", "Read", "Describe")
    if principal == CONSOLE:
        # The lag view: every group of every service, and the end offsets of every topic.
        for topic in all_topics():
            add("topic", topic.name, "literal", "Describe")
        for service in SERVICES:
            for prefix in group_prefixes(service):
                add("group", prefix, "prefix", "Describe")
    if principal == KEDA:
        # The lag of each trigger: the group's committed offsets and the topic's end offsets.
        for topic_name, group in scaled_groups():
            add("topic", topic_name, "literal", "Describe")
            add("group", group, "literal", "Describe")
    if owned or principal == CONSOLE:
        # The console writes no topic, but its FastStream broker (the delivery-status history)
        # starts an idempotent producer all the same, and InitProducerId asks for this; it
        # lets no record be written anywhere. Without it the console never connects.
        add("cluster", CLUSTER_RESOURCE, "literal", "IdempotentWrite")
    return tuple(out)


def all_acls() -> tuple[Acl, ...]:
    return tuple(acl for principal in PRINCIPALS for acl in acls_for(principal))


_IMPLIES_DESCRIBE = frozenset({"Read", "Write"})


def allowed(
    acls: Iterable[Acl],
    principal: str,
    operation: Operation,
    resource_type: ResourceType,
    name: str,
) -> bool:
    """What the broker's authorizer answers for these ALLOW bindings (no DENY is ever made):
    READ and WRITE imply DESCRIBE."""
    for acl in acls:
        if acl.principal != principal or not acl.matches(resource_type, name):
            continue
        if acl.operation == operation or (
            operation == "Describe" and acl.operation in _IMPLIES_DESCRIBE
        ):
            return True
    return False


def writers_of(topic_name: str) -> set[str]:
    acls = all_acls()
    return {p for p in PRINCIPALS if allowed(acls, p, "Write", "topic", topic_name)}


# --- Kafka wire codes (org.apache.kafka.common.acl / resource) -------------------------------

_RESOURCE_CODE = {"topic": 2, "group": 3, "cluster": 4}
_PATTERN_CODE = {"literal": 3, "prefix": 4}
_OPERATION_CODE = {
    "Read": 3,
    "Write": 4,
    "Describe": 8,
    "DescribeConfigs": 10,
    "IdempotentWrite": 12,
}
_ALLOW = 3


def wire_tuple(acl: Acl) -> tuple[int, str, int, str, str, int, int]:
    """The binding as a CreateAcls v1 creation."""
    return (
        _RESOURCE_CODE[acl.resource_type],
        acl.name,
        _PATTERN_CODE[acl.pattern],
        acl.kafka_principal,
        "*",
        _OPERATION_CODE[acl.operation],
        _ALLOW,
    )


def markdown_table() -> str:
    """One row per principal: what it writes, reads, and its groups (docs/security.md)."""
    rows = ["| Principal | Writes | Reads | Groups (prefix) |", "|---|---|---|---|"]
    for principal in PRINCIPALS:
        acls = acls_for(principal)
        writes = [a.name for a in acls if a.operation == "Write"]
        reads = [a.name for a in acls if a.operation == "Read" and a.resource_type == "topic"]
        group_acls = [a for a in acls if a.resource_type == "group"]
        # Prefixes as they are; a group named exactly (keda's) is marked.
        groups = sorted({f"`{a.name}`" for a in group_acls if a.pattern == "prefix"}) + sorted(
            {f"`{a.name}` (exact)" for a in group_acls if a.pattern == "literal"}
        )
        rows.append(
            f"| `{principal}` | {', '.join(f'`{n}`' for n in writes) or '-'} "
            f"| {', '.join(f'`{n}`' for n in reads) or '-'} "
            f"| {', '.join(groups) or '-'} |"
        )
    return "\n".join(rows) + "\n"


# --- Applying them (the local stacks; Strimzi's user operator does it in Kubernetes) ---------


def sasl_client_options(username: str, password: str, ca_file: str | Path | None) -> dict[str, Any]:
    """aiokafka keyword arguments for SCRAM-SHA-512 over TLS (kinerja_shared.kafka_login)."""
    login = KafkaLogin(
        security_protocol="SASL_SSL",
        sasl_username=username,
        sasl_password=SecretStr(password),
        ca_file=str(ca_file) if ca_file else None,
    )
    return login.client_options()


async def apply(
    bootstrap: str, acls: Sequence[Acl], client_options: dict[str, Any], timeout: float = 60.0
) -> int:
    """Create ``acls`` (idempotent: an existing binding is kept) as the cluster's admin; waits
    up to ``timeout`` seconds for the broker to answer. The number of bindings sent."""
    from aiokafka.admin import AIOKafkaAdminClient

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="kinerja-acls", **client_options
        )
        try:
            await admin.start()
            break
        except Exception:
            await admin.close()
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.5)  # the broker is starting: nothing to await but a retry
    try:
        if not acls:
            return 0
        response = await admin._send_request(_create_acls([wire_tuple(a) for a in acls]))
        errors = [(code, message) for code, message in response.creation_responses if code]
        if errors:
            raise RuntimeError(f"CreateAcls refused: {errors[:5]}")
    finally:
        await admin.close()
    return len(acls)


def _create_acls_request_class() -> Any:
    from aiokafka.protocol.admin import CreateAclsRequest_v1
    from aiokafka.protocol.api import Request

    class CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]  # aiokafka: untyped
        """All bindings in one request (aiokafka's own CreateAclsRequest sends one)."""

        API_KEY = 30

        def __init__(self, creations: list[tuple[Any, ...]]) -> None:
            self._creations = creations

        def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
            return request_struct_class(self._creations)

    return CreateAcls


def _create_acls(creations: list[tuple[Any, ...]]) -> Any:
    return _create_acls_request_class()(creations)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kinerja_tools.kafka_acls",
        description="Kafka ACLs of every Kinerja principal, from the topic registry.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("table", help="print the principals' rights as a Markdown table")
    sub.add_parser("list", help="print every binding, one a line")
    sub.add_parser("principals", help="print the principals, one a line")
    do = sub.add_parser("apply", help="create the bindings on a SASL_SSL broker, as its admin")
    do.add_argument("--bootstrap", required=True)
    do.add_argument("--ca-file", required=True)
    do.add_argument("--username", required=True)
    do.add_argument("--password-file", required=True, type=Path)
    do.add_argument("--timeout", type=float, default=60.0)
    do.add_argument("--ready-only", action="store_true", help="only log in once, apply nothing")
    args = parser.parse_args(argv)
    if args.command == "table":
        sys.stdout.write(markdown_table())
    elif args.command == "principals":
        sys.stdout.write("".join(f"{p}\n" for p in PRINCIPALS))
    elif args.command == "list":
        for acl in all_acls():
            sys.stdout.write(
                f"{acl.kafka_principal} {acl.operation} {acl.resource_type}:{acl.name} "
                f"({acl.pattern})\n"
            )
    else:
        login = KafkaLogin(
            security_protocol="SASL_SSL",
            sasl_username=args.username,
            sasl_password_file=args.password_file,
            ca_file=str(args.ca_file) if args.ca_file else None,
        )
        options = login.client_options()
        acls = () if args.ready_only else all_acls()
        n = asyncio.run(apply(args.bootstrap, acls, options, args.timeout))
        if not args.ready_only:
            sys.stdout.write(f"{n} ACL bindings applied\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
