"""What the NetworkPolicies of a rendered overlay let through, as the API defines it.

A pod is isolated for a direction (Ingress, Egress) once any policy of its namespace selects it
for that direction; from then on only what some such policy's rules allow gets through, and the
policies add up (there is no deny rule). A connection needs both ends: the source's egress and
the target's ingress. Pods are matched by labels only: the ``ipBlock`` peers here stand for
addresses outside the cluster, never for its pods. The kubelet's probes come from the node and
are not subject to these policies.

Only the overlay's own policies are known: a pod of another namespace is taken as not isolated,
and the Kafka brokers' ingress is Strimzi's (its cluster operator makes a policy per listener).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Resource = dict[str, Any]
NAMESPACE_NAME = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace


@dataclass(frozen=True)
class Pod:
    labels: Mapping[str, str]
    namespace: str
    namespace_labels: Mapping[str, str] = field(default_factory=dict)

    def all_namespace_labels(self) -> dict[str, str]:
        return {**self.namespace_labels, NAMESPACE_NAME: self.namespace}


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector matches ``labels``; an empty selector matches everything."""
    selector = selector or {}
    if not (selector.get("matchLabels") or {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def policy_types(policy: Resource) -> set[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return set(spec["policyTypes"])
    return {"Ingress", *(["Egress"] if "egress" in spec else [])}


def selecting(policies: Iterable[Resource], pod: Pod, direction: str) -> list[Resource]:
    """The policies that isolate ``pod`` for ``direction`` (those of its namespace only)."""
    return [
        p
        for p in policies
        if p["metadata"].get("namespace", pod.namespace) == pod.namespace
        and direction in policy_types(p)
        and selects(p["spec"].get("podSelector"), pod.labels)
    ]


def _peer_matches(peer: Mapping[str, Any], pod: Pod, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], pod.all_namespace_labels()):
            return False
    elif pod.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector"), pod.labels)


def port_matches(ports: list[Mapping[str, Any]] | None, port: int, name: str | None) -> bool:
    """Whether a rule's ``ports`` include TCP ``port`` (or the container port named ``name``);
    a rule without ports covers every port."""
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        value = entry.get("port")
        if value is None or value == port or (name is not None and value == name):
            return True
        if isinstance(value, int) and value <= port <= int(entry.get("endPort", value)):
            return True
    return False


def rules_allowing(
    policies: Iterable[Resource],
    direction: str,
    subject: Pod,
    peer: Pod,
    port: int,
    port_name: str | None = None,
) -> list[Mapping[str, Any]]:
    """The rules of the policies isolating ``subject`` that let ``peer`` through on ``port``:
    for Ingress ``peer`` is the caller, for Egress the one called."""
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    found = []
    for policy in selecting(policies, subject, direction):
        namespace = policy["metadata"].get("namespace", subject.namespace)
        for rule in policy["spec"].get(key) or []:
            if not port_matches(rule.get("ports"), port, port_name):
                continue
            peers = rule.get(peers_key)
            if not peers or any(_peer_matches(p, peer, namespace) for p in peers):
                found.append(rule)
    return found


def allows(
    policies: list[Resource],
    direction: str,
    subject: Pod,
    peer: Pod,
    port: int,
    port_name: str | None = None,
) -> bool:
    """One end of a connection: not isolated, or a rule lets it through."""
    if not selecting(policies, subject, direction):
        return True
    return bool(rules_allowing(policies, direction, subject, peer, port, port_name))


def may_connect(
    policies: list[Resource], source: Pod, target: Pod, port: int, port_name: str | None = None
) -> bool:
    """Both ends: ``source`` may send to ``target:port`` and ``target`` may accept it."""
    return allows(policies, "Egress", source, target, port, port_name) and allows(
        policies, "Ingress", target, source, port, port_name
    )


def denies_all_ingress(policy: Resource) -> bool:
    """A default deny: every pod of its namespace, isolated for ingress, no rule at all."""
    spec = policy["spec"]
    selector = spec.get("podSelector") or {}
    every_pod = not selector.get("matchLabels") and not selector.get("matchExpressions")
    return every_pod and "Ingress" in policy_types(policy) and not spec.get("ingress")
