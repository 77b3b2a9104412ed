"""The Kubernetes manifests under deploy/k8s: valid, complete, and derived from the code.

Pure and fast: no cluster. Built-in kinds are validated with kubernetes-validate (strict, so an
unknown or misspelt field fails) against Kubernetes 1.31. kubernetes-validate knows no custom
resources, so the two CRD kinds used here are validated against small structural schemas of
our own instead (``CRD_SCHEMAS``: what the KEDA and Strimzi operators need, not their full
CRDs); any other kind without a schema fails the test, nothing is skipped silently.

Overlays are rendered by real Kustomize, never by a home-made resolver. The binary is, in
order: ``$KUSTOMIZE``; ``kustomize`` on PATH; the one built earlier into ``.local/tools``;
``kubectl kustomize`` (kubectl embeds Kustomize v5); else it is built now with
``go install sigs.k8s.io/kustomize/kustomize/v5@<KUSTOMIZE_VERSION>`` through the Go module
proxy (a few minutes the first time, cached afterwards). Without any of them the tests fail and
say what to install: nothing is skipped.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from faststream.kafka import KafkaBroker

from kinerja_shared import strimzi
from kinerja_shared.service import Runtime
from kinerja_shared.topics import BKN_RETRY_TIERS, ROSTER_PEGAWAI, ROSTER_SEKOLAH, all_topics

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
Render = Callable[[Path], list[dict[str, Any]]]
KUBERNETES_VERSION = "1.31"
TOOLS = REPO / ".local" / "tools"
KUSTOMIZE_VERSION = "v5.5.0"
# Building Kustomize from source downloads its module graph once; allow for it.
KUSTOMIZE_BUILD_TIMEOUT = 900


OVERLAYS = ("dev", "prod")
# Deployment name -> the Python package that runs in it.
PACKAGES = {
    "planning": "planning",
    "observation": "observation",
    "assessment": "assessment",
    "predikat": "predikat",
    "bkn-sync": "bkn_sync",
    "ekinerja-sim": "ekinerja_sim",
}
KAFKA_SERVICES = ("planning", "observation", "assessment", "predikat", "bkn-sync")
SIMULATOR = "ekinerja-sim"
# The simulator has no database and no broker, so no /readyz: its readiness is /healthz.
READINESS_PATH = dict.fromkeys(KAFKA_SERVICES, "/readyz") | {SIMULATOR: "/healthz"}
IMAGE_USER = 10001  # services/*/Dockerfile: `useradd --uid 10001`, `USER 10001`
HTTP_PORT = 8000
DNS_1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
REGENERATE_TOPICS = (
    ".venv/bin/python -m kinerja_shared.strimzi > deploy/k8s/kafka-topics/topics.yaml"
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
SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": _METADATA,
        "spec": {
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
    },
}
KAFKA_TOPIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1beta2"},
        "kind": {"const": "KafkaTopic"},
        "metadata": {
            **_METADATA,
            "required": ["name", "labels"],
            "properties": {
                **_METADATA["properties"],
                "labels": {**_STRING_MAP, "required": ["strimzi.io/cluster"]},
            },
        },
        "spec": {
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
    },
}
# kubernetes-validate has no schema for these custom resources (their CRDs live in the KEDA and
# Strimzi operators); each is checked against the schema beside it instead.
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT_SCHEMA,
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): KAFKA_TOPIC_SCHEMA,
}


# --- rendering the overlays ------------------------------------------------------------------


def _kubectl_kustomize() -> list[str] | None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    probe = subprocess.run(
        [kubectl, "kustomize", "--help"], capture_output=True, text=True, check=False
    )
    return [kubectl, "kustomize"] if probe.returncode == 0 else None


def _go_install_kustomize() -> list[str]:
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            "no Kustomize to render deploy/k8s/overlays: install one of kustomize, kubectl, or Go "
            f"(the tests then build sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION} into "
            f"{TOOLS.relative_to(REPO)}), or point $KUSTOMIZE at a kustomize binary",
            pytrace=False,
        )
    TOOLS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [go, "install", f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"],
        env={**os.environ, "GOBIN": str(TOOLS), "GOFLAGS": "-mod=mod"},
        capture_output=True,
        text=True,
        timeout=KUSTOMIZE_BUILD_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"building Kustomize with Go failed:\n{result.stderr}", pytrace=False)
    return [str(TOOLS / "kustomize"), "build"]


def kustomize_command() -> list[str]:
    if explicit := os.environ.get("KUSTOMIZE"):
        return [explicit, "build"]
    if on_path := shutil.which("kustomize"):
        return [on_path, "build"]
    if (TOOLS / "kustomize").is_file():
        return [str(TOOLS / "kustomize"), "build"]
    return _kubectl_kustomize() or _go_install_kustomize()


@pytest.fixture(scope="session")
def kustomize_build() -> Render:
    command = kustomize_command()

    def render(directory: Path) -> list[dict[str, Any]]:
        result = subprocess.run(
            [*command, str(directory)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{' '.join(command)} {directory} failed:\n{result.stderr}"
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


@pytest.mark.timeout(900)  # the first use may build Kustomize (conftest)
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


@pytest.mark.timeout(900)
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
            assert c["ports"] == [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}]
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


@pytest.mark.timeout(900)
def test_every_deployment_has_a_matching_pdb_service_and_migration_job(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    for resources in rendered_sets(overlay):
        deployments = of_kind(resources, "Deployment")
        pdbs = of_kind(resources, "PodDisruptionBudget")
        services = of_kind(resources, "Service")
        jobs = of_kind(resources, "Job")
        for name, deployment in deployments.items():
            pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
            selector = deployment["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pod_labels.items(), name

            assert pdbs[name]["spec"]["minAvailable"] == 1, name
            assert pdbs[name]["spec"]["selector"]["matchLabels"] == selector, name

            assert services[name]["spec"]["selector"] == selector, name
            [port] = services[name]["spec"]["ports"]
            assert (port["port"], port["targetPort"]) == (HTTP_PORT, "http"), name

            if name == SIMULATOR:  # no database, nothing to migrate
                assert f"{name}-migrate" not in jobs
                continue
            job = jobs[f"{name}-migrate"]
            job_container = job["spec"]["template"]["spec"]["containers"][0]
            assert job_container["args"] == ["migrate"], name
            assert job_container["image"] == container(deployment)["image"], name
            assert job_container["envFrom"] == container(deployment)["envFrom"], name
            assert job["spec"]["backoffLimit"] >= 1, name
            assert job["spec"]["ttlSecondsAfterFinished"] > 0, name
            assert job["spec"]["template"]["spec"]["restartPolicy"] in {"Never", "OnFailure"}
            assert job_container["securityContext"]["readOnlyRootFilesystem"] is True, name


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
    bootstrap = {
        name: cm["data"][f"{env_prefix(name.removesuffix('-config'))}KAFKA_BOOTSTRAP"]
        for name, cm in of_kind(base_resources(), "ConfigMap").items()
        if name.removesuffix("-config") in KAFKA_SERVICES
    }
    for name, scaled in scaled_objects.items():
        assert scaled["spec"]["scaleTargetRef"]["name"] == name
        assert scaled["spec"]["maxReplicaCount"] <= min(t.partitions for t in all_topics())
        real = subscriptions(name)
        triggers = [t["metadata"] for t in scaled["spec"]["triggers"] if t["type"] == "kafka"]
        assert triggers, name
        named = {(t["topic"], t["consumerGroup"]) for t in triggers}
        assert len(named) == len(triggers), f"{name}: one trigger per topic"
        assert named <= real, f"{name}: no such subscription: {sorted(named - real)}"
        for t in triggers:
            assert t["bootstrapServers"] == bootstrap[f"{name}-config"], name
        # Every main input is covered; roster topics (reference data) and the retry tiers
        # (whose records wait on purpose) are not main inputs, except for a service that has
        # nothing else.
        secondary = {ROSTER_PEGAWAI.name, ROSTER_SEKOLAH.name, *(t.name for t in BKN_RETRY_TIERS)}
        main_inputs = {topic for topic, _ in real} - secondary
        assert main_inputs <= {topic for topic, _ in named}, (name, main_inputs)


def test_the_simulator_is_not_autoscaled_and_runs_alone() -> None:
    deployment = of_kind(base_resources(), "Deployment")[SIMULATOR]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


# --- environments ----------------------------------------------------------------------------


@pytest.mark.timeout(900)
def test_overlays_set_replicas_resources_and_image_tags(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, resources = overlay
    deployments = of_kind(resources, "Deployment")
    scaled = of_kind(resources, "ScaledObject")
    expected_replicas = {"dev": 1, "prod": 3}[name]
    for service in KAFKA_SERVICES:
        assert deployments[service]["spec"]["replicas"] == expected_replicas, service
        assert scaled[service]["spec"]["minReplicaCount"] == expected_replicas, service
    for deployment_name, deployment in deployments.items():
        assert not container(deployment)["image"].endswith(":latest"), deployment_name
    namespaces = {r["metadata"].get("namespace") for r in resources}
    assert namespaces == {{"dev": "kinerja-dev", "prod": "kinerja"}[name]}
    # The simulator is a test double: prod talks to e-Kinerja BKN.
    assert (SIMULATOR in deployments) is (name == "dev")
    ekinerja = of_kind(resources, "ConfigMap")["bkn-sync-config"]["data"]["BKN_SYNC_EKINERJA_URL"]
    assert ("ekinerja-sim" in ekinerja) is (name == "dev")


@pytest.mark.timeout(900)
def test_every_environment_keeps_bkn_sync_within_the_total_ekinerja_call_cap(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    # DOMAIN.md §8: 200 calls/s to e-Kinerja for all of Kinerja, however far KEDA scales.
    _, resources = overlay
    config = of_kind(resources, "ConfigMap")["bkn-sync-config"]["data"]
    per_replica = float(config["BKN_SYNC_EKINERJA_MAX_CALLS_PER_SECOND"])
    most_replicas = of_kind(resources, "ScaledObject")["bkn-sync"]["spec"]["maxReplicaCount"]
    assert 0 < per_replica * most_replicas <= 200


@pytest.mark.timeout(900)
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


# --- topics come from the registry -----------------------------------------------------------


def test_committed_topics_yaml_is_what_the_registry_generates_now() -> None:
    committed = (K8S / "kafka-topics" / "topics.yaml").read_text()
    assert committed == strimzi.render(), (
        "deploy/k8s/kafka-topics/topics.yaml is not what kinerja_shared.strimzi generates from "
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
