"""When each resource of a rendered overlay comes into being, and what each one needs before it.

A *phase* is Argo CD's order of a sync: PreSync hooks, then the Sync phase wave by wave
(``argocd.argoproj.io/sync-wave``, default 0), then PostSync hooks; Argo CD moves on only once a
phase is healthy. ``kubectl apply -k`` applies everything at once: a single phase, which the
same rule covers, since a pod whose ConfigMap or Secret is missing waits for it and a resource
in the same phase is created with it. What fails is a pod that runs in an *earlier* phase than
what it reads (the issue's migration Job: a PreSync hook reading a ConfigMap of the Sync phase,
so Argo CD waits for a hook that never starts) or reads something nothing creates.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Resource = dict[str, Any]
Phase = tuple[int, int]

HOOK = "argocd.argoproj.io/hook"
WAVE = "argocd.argoproj.io/sync-wave"
_HOOK_ORDER = {"PreSync": 0, "Sync": 1, "PostSync": 2}
# Exists in every namespace before anything is applied.
ALWAYS_THERE: frozenset[tuple[str, str]] = frozenset({("ServiceAccount", "default")})
# Exists before the overlay is applied because the cluster has what deploy/k8s/README.md
# requires ("What the cluster needs"): Strimzi's cluster operator writes the CA certificate of
# the Kafka cluster `kinerja` in its namespace (a copy of it when the cluster runs elsewhere).
PREREQUISITES: frozenset[tuple[str, str]] = frozenset({("Secret", "kinerja-cluster-ca-cert")})
_BEFORE_EVERYTHING: Phase = (-1, 0)


def phase(resource: Resource) -> Phase:
    annotations = resource["metadata"].get("annotations") or {}
    hooks = [h.strip() for h in annotations.get(HOOK, "Sync").split(",")]
    return min(_HOOK_ORDER[h] for h in hooks), int(annotations.get(WAVE, "0"))


def created(resources: list[Resource]) -> dict[tuple[str, str], Phase]:
    """(kind, name) -> the phase it exists from, for what the overlay creates."""
    found = dict.fromkeys(ALWAYS_THERE | PREREQUISITES, _BEFORE_EVERYTHING)
    for r in resources:
        name = r["metadata"]["name"]
        found[(r["kind"], name)] = phase(r)
        if r["kind"] == "ExternalSecret":
            # Its operator creates the Secret; Argo CD waits for that (its health check).
            target = (r["spec"].get("target") or {}).get("name", name)
            found[("Secret", target)] = phase(r)
        if r["kind"] == "KafkaUser":
            # Strimzi's user operator writes its password to a Secret named like the user;
            # Argo CD waits until the user is Ready, which it is once that Secret exists.
            found[("Secret", name)] = phase(r)
    return found


def pod_spec(resource: Resource) -> Resource | None:
    kind, spec = resource["kind"], resource.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return dict(spec["jobTemplate"]["spec"]["template"]["spec"])
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return dict(spec["template"]["spec"])
    return None


def pod_references(pod: Resource) -> Iterator[tuple[str, str]]:
    """(kind, name) of every ConfigMap, Secret, ServiceAccount and PVC the pod cannot start
    without (references marked ``optional: true`` are left out)."""
    yield "ServiceAccount", pod.get("serviceAccountName") or "default"
    for secret in pod.get("imagePullSecrets") or []:
        yield "Secret", secret["name"]
    for volume in pod.get("volumes") or []:
        yield from _volume_references(volume)
    for container in [*(pod.get("initContainers") or []), *pod["containers"]]:
        for source in container.get("envFrom") or []:
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                ref = source.get(key)
                if ref and not ref.get("optional"):
                    yield kind, ref["name"]
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = value_from.get(key)
                if ref and not ref.get("optional"):
                    yield kind, ref["name"]


def _volume_references(volume: Resource) -> Iterator[tuple[str, str]]:
    if (ref := volume.get("configMap")) and not ref.get("optional"):
        yield "ConfigMap", ref["name"]
    if (ref := volume.get("secret")) and not ref.get("optional"):
        yield "Secret", ref["secretName"]
    if ref := volume.get("persistentVolumeClaim"):
        yield "PersistentVolumeClaim", ref["claimName"]
    for source in (volume.get("projected") or {}).get("sources") or []:
        yield from _volume_references(source)


def references(resource: Resource) -> Iterator[tuple[str, str]]:
    """What ``resource`` needs to exist: a pod's inputs, and KEDA's authentication chain."""
    if (pod := pod_spec(resource)) is not None:
        yield from pod_references(pod)
    if resource["kind"] == "ScaledObject":
        for trigger in resource["spec"]["triggers"]:
            if ref := trigger.get("authenticationRef"):
                yield ref.get("kind", "TriggerAuthentication"), ref["name"]
    if resource["kind"] == "TriggerAuthentication":
        for ref in resource["spec"].get("secretTargetRef") or []:
            yield "Secret", ref["name"]


def late_references(resources: list[Resource]) -> list[str]:
    """Every reference to something created in a later phase than its user, or never."""
    exists_from = created(resources)
    problems: list[str] = []
    for r in resources:
        user = f"{r['kind']}/{r['metadata']['name']} {phase(r)}"
        for ref in sorted(set(references(r))):
            if ref not in exists_from:
                problems.append(f"{user} needs {ref[0]}/{ref[1]}, which nothing creates")
            elif exists_from[ref] > phase(r):
                problems.append(
                    f"{user} needs {ref[0]}/{ref[1]}, created only in phase {exists_from[ref]}"
                )
    return problems
