"""Strimzi ``KafkaTopic`` resources for every topic of the registry (``topics.all_topics()``),
and a ``KafkaUser`` per principal with the ACLs ``kinerja_tools.kafka_acls`` derives from it.

The cluster's topics and rights come from the same declaration the services import, so they
cannot drift::

    python -m kinerja_tools.strimzi > deploy/k8s/kafka-topics/topics.yaml
    python -m kinerja_tools.strimzi --users > deploy/k8s/kafka-users/users.yaml

``tests/deploy/test_manifests.py`` fails when a committed file differs from what this module
generates now. The output is deterministic (registry order, fixed key order) and written by a
small block-YAML emitter of its own, so the generator needs no YAML library at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from kinerja_shared.topics import all_topics

from .kafka_acls import PRINCIPALS, acls_for

API_VERSION = "kafka.strimzi.io/v1beta2"
DEFAULT_CLUSTER = "kinerja"
DEFAULT_REPLICAS = 3
GENERATED_BY = "python -m kinerja_tools.strimzi"

_DNS_1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_MAX_NAME = 253
# Strings YAML reads back as strings when left unquoted: a letter first, no indicators, and
# none of the words YAML 1.1 resolves to booleans or null.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")
_RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def resource_name(topic_name: str) -> str:
    """A Kubernetes name (DNS-1123 subdomain) for ``topic_name``.

    A topic name that already is one is used as it is. Any other is lower-cased, its invalid
    characters become ``-``, and a short hash of the real name is appended so that two topics
    that differ only in case or punctuation cannot map to the same resource. The real name is
    always carried by ``spec.topicName``.
    """
    if len(topic_name) <= _MAX_NAME and _DNS_1123_SUBDOMAIN.fullmatch(topic_name):
        return topic_name
    digest = hashlib.sha1(topic_name.encode(), usedforsecurity=False).hexdigest()[:8]
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", topic_name.lower())
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    cleaned = re.sub(r"-*\.-*", ".", cleaned).strip(".-")
    cleaned = cleaned[: _MAX_NAME - len(digest) - 1].rstrip(".-")
    return f"{cleaned}-{digest}" if cleaned else digest


def kafka_topics(replicas: int, cluster: str) -> list[dict[str, Any]]:
    """One ``KafkaTopic`` per registry topic, in registry order, for the Strimzi ``cluster``.

    ``min.insync.replicas`` is ``min(2, replicas)``: with the producers' ``acks=all`` a write
    survives the loss of one broker on a 3-replica cluster, and a 1-broker dev cluster still
    accepts writes.
    """
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    resources: list[dict[str, Any]] = []
    for topic in all_topics():
        config = dict(topic.config())
        config["min.insync.replicas"] = str(min(2, replicas))
        resources.append(
            {
                "apiVersion": API_VERSION,
                "kind": "KafkaTopic",
                "metadata": {
                    "name": resource_name(topic.name),
                    "labels": {
                        "strimzi.io/cluster": cluster,
                        "app.kubernetes.io/part-of": "kinerja",
                        "app.kubernetes.io/managed-by": "kinerja-shared-strimzi",
                    },
                },
                "spec": {
                    "topicName": topic.name,
                    "partitions": topic.partitions,
                    "replicas": replicas,
                    "config": dict(sorted(config.items())),
                },
            }
        )
    return resources


def _acl_resource(resource_type: str, name: str, pattern: str) -> dict[str, Any]:
    if resource_type == "cluster":
        return {"type": "cluster"}
    return {"type": resource_type, "name": name, "patternType": pattern}


def kafka_users(cluster: str) -> list[dict[str, Any]]:
    """One ``KafkaUser`` per principal of ``kafka_acls.PRINCIPALS``: SCRAM-SHA-512, and the
    simple authorizer's ALLOW rules of ``kafka_acls.acls_for``, one rule per resource with its
    operations. Strimzi's user operator writes each password to a Secret named like the user."""
    resources: list[dict[str, Any]] = []
    for principal in PRINCIPALS:
        rules: dict[tuple[str, str, str], list[str]] = {}
        for acl in acls_for(principal):
            ops = rules.setdefault((acl.resource_type, acl.name, acl.pattern), [])
            if acl.operation not in ops:
                ops.append(acl.operation)
        resources.append(
            {
                "apiVersion": API_VERSION,
                "kind": "KafkaUser",
                "metadata": {
                    "name": principal,
                    "labels": {
                        "strimzi.io/cluster": cluster,
                        "app.kubernetes.io/part-of": "kinerja",
                        "app.kubernetes.io/managed-by": "kinerja-shared-strimzi",
                    },
                },
                "spec": {
                    "authentication": {"type": "scram-sha-512"},
                    "authorization": {
                        "type": "simple",
                        "acls": [
                            {
                                "resource": _acl_resource(*key),
                                "operations": sorted(ops),
                                "host": "*",
                            }
                            for key, ops in rules.items()
                        ],
                    },
                },
            }
        )
    return resources


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _plain_or_quoted(value)
    raise TypeError(f"cannot emit {type(value).__name__} as YAML")


def _printable(code: int) -> bool:
    # YAML 1.1's printable set, less the characters it reads as line breaks (0x85, 0x2028/9)
    # and the byte order mark, which are escaped instead.
    return (
        0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or (0xE000 <= code <= 0xFFFD and code not in (0xFEFF,))
        or 0x10000 <= code <= 0x10FFFF
    ) and code not in (0x2028, 0x2029)


def _quote(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif _printable(code):
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _plain_or_quoted(text: str) -> str:
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    # Double-quoted, so "60000" stays a string and nothing is read as YAML syntax.
    return _quote(text)


def _inline(value: object) -> str | None:
    """``value`` on the line of its key or dash, or None if it needs a block of its own."""
    if isinstance(value, Mapping):
        return None if value else "{}"
    if isinstance(value, list | tuple):
        return None if value else "[]"
    return _scalar(value)


def _emit(value: object, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, Mapping):
        for key, item in value.items():
            head = f"{pad}{_plain_or_quoted(str(key))}:"
            inline = _inline(item)
            if inline is None:
                lines.append(head)
                _emit(item, indent + 2, lines)
            else:
                lines.append(f"{head} {inline}")
    elif isinstance(value, list | tuple):
        for item in value:
            inline = _inline(item)
            if inline is None:
                nested: list[str] = []
                _emit(item, indent + 2, nested)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {inline}")
    else:
        lines.append(f"{pad}{_scalar(value)}")


def to_yaml(documents: Sequence[Mapping[str, Any]], header: str = "") -> str:
    """A multi-document block-YAML stream of ``documents``, each preceded by ``---``."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for document in documents:
        lines.append("---")
        inline = _inline(document)
        if inline is None:
            _emit(document, 0, lines)
        else:
            lines.append(inline)
    return "\n".join(lines) + "\n"


def render(replicas: int = DEFAULT_REPLICAS, cluster: str = DEFAULT_CLUSTER) -> str:
    header = (
        f"Generated by `{GENERATED_BY}` from kinerja_shared.topics: do not edit.\n"
        f"Strimzi cluster {cluster!r}, {replicas} replica(s) per partition."
    )
    return to_yaml(kafka_topics(replicas, cluster), header)


def render_users(cluster: str = DEFAULT_CLUSTER) -> str:
    header = (
        f"Generated by `{GENERATED_BY} --users` from kinerja_tools.kafka_acls: do not edit.\n"
        f"Strimzi cluster {cluster!r}; one KafkaUser (SCRAM-SHA-512) per principal."
    )
    return to_yaml(kafka_users(cluster), header)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=GENERATED_BY,
        description="Print Strimzi KafkaTopic (or, with --users, KafkaUser) resources.",
    )
    parser.add_argument("--replicas", type=int, default=DEFAULT_REPLICAS)
    parser.add_argument("--cluster", default=DEFAULT_CLUSTER, help="the Strimzi Kafka resource")
    parser.add_argument(
        "--users", action="store_true", help="KafkaUser resources with each principal's ACLs"
    )
    args = parser.parse_args(argv)
    if args.users:
        sys.stdout.write(render_users(args.cluster))
    else:
        sys.stdout.write(render(args.replicas, args.cluster))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
