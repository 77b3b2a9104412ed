"""docker-compose.yml, checked without Docker.

There is no Docker engine or ``docker`` binary on the development and CI machines, so
``docker compose config`` cannot run here. Instead:

* The file is validated against the Compose Specification's JSON schema as the
  check-jsonschema package ships it (``check-jsonschema --builtin-schema vendor.compose-spec``;
  the package vendors the compose-spec project's ``schema/compose-spec.json``), so an unknown
  key, a misspelt dependency condition or a malformed mount fails here as it would in Compose.
* What the schema cannot know is asserted below: every long-running part has a healthcheck and
  everything that needs it waits for it to be healthy; the one-shot steps (migrations, topics)
  are waited for to complete; migrations wait for PostgreSQL's TCP port; every published port
  is bound to 127.0.0.1; the services' environment is made of real settings and builds each
  app, whose health path the healthcheck asks for; the services trust the dev identity
  provider's keys where ``make run`` writes them, and the header says how to create them.
"""

from __future__ import annotations

import http.server
import importlib
import importlib.resources
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import opentelemetry.environment_variables as otel_api_variables
import opentelemetry.sdk.environment_variables as otel_sdk_variables
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILES = sorted(REPO.glob("services/*/Dockerfile"))
MIGRATE_SUFFIX = "-migrate"
# Compose service -> the Python package that runs in it.
KINERJA_SERVICES = {
    "planning": "planning",
    "observation": "observation",
    "assessment": "assessment",
    "predikat": "predikat",
    "bkn-sync": "bkn_sync",
    "console": "console",
}
SIMULATOR = {"ekinerja-sim": "ekinerja_sim"}
APPS = KINERJA_SERVICES | SIMULATOR
ONE_SHOT = {"topics"} | {f"{name}{MIGRATE_SUFFIX}" for name in KINERJA_SERVICES}
# Compose services that run no Kinerja settings model.
INFRASTRUCTURE = {"postgres", "kafka", "zipkin", "topics"}
# The simulator has no database and no broker: alive is ready.
HEALTH_PATH = dict.fromkeys(KINERJA_SERVICES, "/readyz") | dict.fromkeys(SIMULATOR, "/healthz")
LOOPBACK = "127.0.0.1"
OTEL_VARIABLES = {
    value
    for module in (otel_api_variables, otel_sdk_variables)
    for name, value in vars(module).items()
    if name.startswith("OTEL_") and isinstance(value, str)
}


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def compose_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services


def header() -> list[str]:
    """The comment lines at the top of docker-compose.yml."""
    lines = []
    for line in COMPOSE.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.removeprefix("#").strip())
    return lines


def long_running(services: dict[str, dict[str, Any]]) -> set[str]:
    return set(services) - ONE_SHOT


def dependencies(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    depends = service.get("depends_on", {})
    assert isinstance(depends, dict), "depends_on needs a condition per dependency, not a list"
    return depends


def settings_model(compose_service: str) -> Any:
    """The pydantic-settings class of the Kinerja process a compose service runs."""
    package = APPS[compose_service.removesuffix(MIGRATE_SUFFIX)]
    if package == "ekinerja_sim":
        return importlib.import_module("ekinerja_sim.settings").SimSettings
    return importlib.import_module(f"{package}.config").Settings


def check_jsonschema() -> str:
    beside_python = Path(sys.executable).parent / "check-jsonschema"
    found = str(beside_python) if beside_python.is_file() else shutil.which("check-jsonschema")
    if found is None:
        pytest.fail(
            "check-jsonschema is not installed: it comes from the check-jsonschema package of "
            "the root pyproject's dev group (make install)",
            pytrace=False,
        )
    return found


def validate_compose_file(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- the Compose Specification's schema -------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification_schema() -> None:
    result = validate_compose_file(COMPOSE)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "validation done" in result.stdout


def test_the_builtin_schema_is_the_compose_specification() -> None:
    """``vendor.compose-spec`` is the compose-spec project's schema, with the conditions used."""
    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(
        "compose-spec.json"
    )
    schema = json.loads(schema_file.read_text())
    assert schema["title"] == "Compose Specification"
    text = json.dumps(schema)
    for condition in ("service_healthy", "service_completed_successfully"):
        assert f'"{condition}"' in text


def _typo_in_healthcheck(document: dict[str, Any]) -> None:
    document["services"]["planning"]["healthcheck"]["intervall"] = "5s"


def _unknown_dependency_condition(document: dict[str, Any]) -> None:
    document["services"]["planning-migrate"]["depends_on"]["postgres"]["condition"] = "healthy"


def _typo_in_bind_mount(document: dict[str, Any]) -> None:
    document["services"]["planning"]["volumes"][0]["bind"]["create_host_paths"] = False


def _unknown_service_key(document: dict[str, Any]) -> None:
    document["services"]["kafka"]["depend_on"] = ["zipkin"]


def write_compose(document: dict[str, Any], directory: Path) -> Path:
    directory.mkdir()
    path = directory / "docker-compose.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_the_compose_document_passes_the_schema_check_when_dumped_again(tmp_path: Path) -> None:
    """The broken variants below are this dump with one change: that change is what fails."""
    result = validate_compose_file(write_compose(compose(), tmp_path / "intact"))
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize(
    "break_it",
    [
        _typo_in_healthcheck,
        _unknown_dependency_condition,
        _typo_in_bind_mount,
        _unknown_service_key,
    ],
)
def test_the_schema_check_fails_an_invalid_compose_file(break_it: Any, tmp_path: Path) -> None:
    """The gate above is real: one wrong key fails it."""
    document = compose()
    break_it(document)
    result = validate_compose_file(write_compose(document, tmp_path / "broken"))
    assert result.returncode != 0, result.stdout
    assert "Schema validation errors" in result.stdout


# --- health, and who waits for what -----------------------------------------------------------


def test_the_one_shot_steps_are_the_migrations_and_topics() -> None:
    services = compose_services()
    assert services.keys() >= ONE_SHOT
    for name in ONE_SHOT:
        assert "ports" not in services[name], f"{name} runs once and exits: nothing to publish"
        assert "healthcheck" not in services[name], f"{name} exits: Compose waits for its exit"
        assert services[name].get("restart", "no") == "no", name


def test_every_long_running_service_has_a_healthcheck() -> None:
    services = compose_services()
    running = long_running(services)
    assert running >= {"postgres", "kafka", "zipkin", *APPS}
    for name in running:
        check = services[name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable", False), name
        test = check["test"]
        assert isinstance(test, list), f"{name}: give the check as a list"
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        assert len(test) > 1, name
        for key in ("interval", "timeout", "start_period"):
            assert re.fullmatch(r"\d+(ms|s|m)", str(check.get(key, ""))), (name, key)
        assert int(check["retries"]) >= 3, name


def test_every_dependency_waits_for_health_or_completion() -> None:
    """``service_started`` would let a service start against a broker or database not yet up."""
    services = compose_services()
    for name, service in services.items():
        for target, condition in dependencies(service).items():
            assert target in services, f"{name} depends on unknown {target}"
            expected = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            assert condition == {"condition": expected}, (name, target)


def test_every_one_shot_step_is_awaited_by_a_long_running_service() -> None:
    """So the services start after it, and ``up --wait`` takes its exit 0 as done."""
    services = compose_services()
    for step in ONE_SHOT:
        waiting = [
            name
            for name in long_running(services)
            if dependencies(services[name]).get(step)
            == {"condition": "service_completed_successfully"}
        ]
        assert waiting, f"no long-running service waits for {step} to complete"


def test_migrations_wait_for_postgres_to_answer_on_its_tcp_port() -> None:
    """On first start the postgres image runs init-db.sql on a temporary server that listens on
    its Unix socket only; a socket check passes then, before the service roles exist."""
    services = compose_services()
    migrations = {name for name in services if name.endswith(MIGRATE_SUFFIX)}
    assert migrations == {f"{name}{MIGRATE_SUFFIX}" for name in KINERJA_SERVICES}
    for migration in migrations:
        assert dependencies(services[migration]).get("postgres") == {
            "condition": "service_healthy"
        }, migration

    test = services["postgres"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"], test
    options = dict(zip(test[2::2], test[3::2], strict=True))
    host = options.get("--host", options.get("-h"))
    assert host == LOOPBACK, f"pg_isready must connect over TCP, not the socket: {test}"
    assert options.get("--port", options.get("-p")) == "5432", test
    assert options.get("--dbname", options.get("-d")) == "kinerja", test


def test_every_service_with_a_migrate_step_waits_for_it_to_complete() -> None:
    services = compose_services()
    for service in KINERJA_SERVICES:
        migration = f"{service}{MIGRATE_SUFFIX}"
        assert services[migration]["command"] == ["migrate"], migration
        assert services[migration]["build"] == services[service]["build"], migration
        assert dependencies(services[service]).get(migration) == {
            "condition": "service_completed_successfully"
        }, service
        # The migrate step runs with the service's own settings (same role and schema).
        assert services[migration]["environment"] == services[service]["environment"], service


def test_every_service_that_uses_kafka_waits_for_the_broker_and_the_topics() -> None:
    services = compose_services()
    checked = 0
    for name in long_running(services):
        environment = services[name].get("environment", {})
        if any(key.endswith("_KAFKA_BOOTSTRAP") for key in environment):
            depends = dependencies(services[name])
            assert depends.get("topics") == {"condition": "service_completed_successfully"}, name
            assert depends.get("kafka") == {"condition": "service_healthy"}, name
            checked += 1
    assert checked == len(KINERJA_SERVICES)


def _hosts_named_in(value: str, names: set[str]) -> set[str]:
    """Compose services named as the host of a URL or of a ``host:port`` list in ``value``."""
    found = set()
    for part in value.split(","):
        if "://" in part:
            host = urlparse(part).hostname
        elif ":" in part:
            host = part.rsplit(":", 1)[0]
        else:
            continue
        if host in names:
            found.add(host)
    return found


def _waited_for(services: dict[str, dict[str, Any]], name: str) -> set[str]:
    """Every service ``name`` waits for, directly or through the steps it waits for."""
    seen: set[str] = set()
    todo = list(dependencies(services[name]))
    while todo:
        target = todo.pop()
        if target not in seen:
            seen.add(target)
            todo.extend(dependencies(services[target]))
    return seen


def test_every_service_a_long_running_service_talks_to_is_waited_for() -> None:
    """The database, broker, simulator or Zipkin named in its environment is healthy first."""
    services = compose_services()
    names = set(services)
    checked = 0
    for name in long_running(services):
        environment = services[name].get("environment", {})
        talks_to = set().union(*(_hosts_named_in(str(v), names) for v in environment.values()))
        talks_to.discard(name)  # Kafka advertises its own listeners
        missing = talks_to - _waited_for(services, name)
        assert not missing, f"{name} talks to {sorted(missing)} without waiting for it"
        checked += len(talks_to)
    assert checked


# --- ports ------------------------------------------------------------------------------------


def published_host_ip(mapping: str | dict[str, Any]) -> str | None:
    """The host address a ports entry binds to; None when it binds every address."""
    if isinstance(mapping, dict):
        ip = mapping.get("host_ip")
        return str(ip) if ip else None
    parts = str(mapping).split(":")
    return parts[0] if len(parts) == 3 else None


@pytest.mark.parametrize(
    ("mapping", "ip"),
    [
        ("58001:8000", None),
        ("0.0.0.0:58001:8000", "0.0.0.0"),
        ("127.0.0.1:58001:8000", LOOPBACK),
        ({"target": 8000, "published": "58001"}, None),
        ({"target": 8000, "published": "58001", "host_ip": LOOPBACK}, LOOPBACK),
    ],
)
def test_published_host_ip_reads_both_port_syntaxes(
    mapping: str | dict[str, Any], ip: str | None
) -> None:
    assert published_host_ip(mapping) == ip


def test_every_published_port_is_bound_to_loopback() -> None:
    published = 0
    for name, service in compose_services().items():
        for mapping in service.get("ports", []):
            assert published_host_ip(mapping) == LOOPBACK, f"{name}: {mapping}"
            published += 1
    assert published >= len(APPS) + 3  # the apps, PostgreSQL, Kafka, Zipkin


def test_host_ports_are_unique() -> None:
    published: dict[str, str] = {}
    for name, service in compose_services().items():
        for mapping in service.get("ports", []):
            host = str(mapping).rsplit(":", 1)[0]
            assert host not in published, f"{name} and {published.get(host)} both publish {host}"
            published[host] = name
    assert published


# --- images and builds ------------------------------------------------------------------------


def test_every_compose_build_context_and_dockerfile_exists() -> None:
    builds = {name: s["build"] for name, s in compose_services().items() if "build" in s}
    assert builds
    for name, build in builds.items():
        context = (REPO / build["context"]).resolve()
        assert context.is_dir(), (name, build["context"])
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), (name, str(dockerfile))
        assert dockerfile in DOCKERFILES, f"{name}: builds {dockerfile}, not a service's image"


def final_base_image(dockerfile: Path) -> str:
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE)
    assert froms, dockerfile
    return str(froms[-1])


def test_project_image_healthchecks_use_the_python_the_image_has() -> None:
    """The images are python:*-slim: no curl or wget, so the check is a python one-liner."""
    services = compose_services()
    checked = 0
    for name, service in services.items():
        if "build" not in service or name in ONE_SHOT:
            continue
        dockerfile = REPO / service["build"]["context"] / service["build"]["dockerfile"]
        assert final_base_image(dockerfile).startswith("python:"), dockerfile
        test = service.get("healthcheck", {}).get("test", [])
        assert test[:3] == ["CMD", "python", "-c"], f"{name}: {test}"
        compile(test[3], f"{name} healthcheck", "exec")
        checked += 1
    assert checked == len(APPS)


def health_url(service: dict[str, Any]) -> str:
    urls = re.findall(r"'(http://[^']+)'", service["healthcheck"]["test"][3])
    assert len(urls) == 1, service["healthcheck"]["test"]
    return str(urls[0])


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def status_server() -> Iterator[tuple[http.server.HTTPServer, type[_StatusHandler]]]:
    handler = type("Handler", (_StatusHandler,), {})
    server = http.server.HTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", sorted(APPS))
@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False), (404, False)])
def test_the_healthcheck_one_liner_fails_on_an_error_status(
    name: str,
    status: int,
    healthy: bool,
    status_server: tuple[http.server.HTTPServer, type[_StatusHandler]],
) -> None:
    """Run each service's check (as Docker would, by exit code) against a local server."""
    server, handler = status_server
    handler.status = status
    service = compose_services()[name]
    url = urlparse(health_url(service))
    code = service["healthcheck"]["test"][3].replace(
        url.netloc, f"{LOOPBACK}:{server.server_address[1]}"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode == 0) is healthy, done.stderr[-2000:]


# Builds each app from exactly the environment compose gives it, in a fresh interpreter (an app
# sets up logging and tracing for its process), and reports where it listens and what it serves.
_APP_PROBE = """
import importlib, json, sys
out = {}
for name, package in json.loads(sys.argv[1]).items():
    if package == "ekinerja_sim":
        settings = importlib.import_module("ekinerja_sim.settings").SimSettings()
        app = importlib.import_module("ekinerja_sim.app").create_app(settings)
        host, port = settings.host, settings.http_port
    else:
        settings = importlib.import_module(package + ".config").Settings()
        app = importlib.import_module(package + ".app").create_app(settings)
        host, port = settings.http_host, settings.http_port
    paths = {path: sorted(ops) for path, ops in app.openapi()["paths"].items()}
    out[name] = {"host": host, "port": port, "paths": paths}
print(json.dumps(out))
"""


def test_each_app_builds_from_its_compose_environment_and_serves_its_health_path() -> None:
    services = compose_services()
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(REPO)}
    for name in APPS:
        environment |= {k: str(v) for k, v in services[name]["environment"].items()}
    # Tracing is not what is checked here; no exporter thread in the probe.
    environment["OTEL_TRACES_EXPORTER"] = "none"
    done = subprocess.run(
        [sys.executable, "-c", _APP_PROBE, json.dumps(APPS)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    apps = json.loads(done.stdout.strip().splitlines()[-1])
    for name in APPS:
        served = apps[name]
        url = urlparse(health_url(services[name]))
        assert url.path == HEALTH_PATH[name], name
        assert "get" in served["paths"].get(url.path, []), f"{name} does not serve {url.path}"
        assert url.port == served["port"], f"{name}: the check asks {url.port}, it listens on"
        # Reachable from the host: listening on every container address, on the published port.
        assert served["host"] == "0.0.0.0", name
        container_ports = {int(str(m).rsplit(":", 1)[1]) for m in services[name]["ports"]}
        assert container_ports == {served["port"]}, name


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
                assert key in OTEL_VARIABLES, f"{name}: {key} is no OpenTelemetry variable"
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


# --- the dev identity provider's keys ---------------------------------------------------------


def make_run_key_dir(tmp_path: Path) -> Path:
    """Where ``make run`` keeps the dev identity provider's keys, relative to the checkout.

    deploy/local/env.sh (which up.sh sources) decides it; it is sourced here from a copy in an
    empty directory, as ``make run`` does (KINERJA_STACK=dev), so this checkout is not touched.
    """
    checkout = tmp_path / "checkout"
    (checkout / "deploy" / "local").mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "local" / "env.sh", checkout / "deploy" / "local" / "env.sh")
    done = subprocess.run(
        ["bash", "-c", 'source deploy/local/env.sh && printf %s "$KINERJA_DEV_IDP_DIR"'],
        cwd=checkout,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KINERJA_STACK": "dev"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout).relative_to(checkout)


def test_make_run_creates_the_dev_identity_provider_keys() -> None:
    up = (REPO / "deploy" / "local" / "up.sh").read_text()
    assert re.search(r'kinerja-dev-token"?\s+jwks-path', up), "up.sh no longer creates the keys"


def test_services_trust_the_jwks_that_make_run_writes_mounted_read_only(tmp_path: Path) -> None:
    key_dir = make_run_key_dir(tmp_path)
    assert key_dir == Path(".local/dev/dev-idp")
    services = compose_services()
    for name in KINERJA_SERVICES:
        service = services[name]
        prefix = str(settings_model(name).model_config["env_prefix"])
        jwks = urlparse(service["environment"][f"{prefix}JWT_JWKS_URL"])
        assert jwks.scheme == "file", name
        mounts = [m for m in service.get("volumes", []) if isinstance(m, dict)]
        at_target = [m for m in mounts if m.get("target") == jwks.path]
        assert len(at_target) == 1, f"{name}: nothing mounted at {jwks.path}"
        mount = at_target[0]
        assert mount["type"] == "bind", name
        assert mount["read_only"] is True, name
        # Only the public JWKS: the key directory is private and holds the signing key.
        assert Path(mount["source"]) == key_dir / "jwks.json", name
        # A missing file stops `up` with its name instead of becoming an empty directory.
        assert mount["bind"]["create_host_path"] is False, name
    for name in ONE_SHOT | set(SIMULATOR):
        assert not services[name].get("volumes"), f"{name} needs no keys"


def test_the_header_says_how_to_create_the_keys_and_that_command_creates_them(
    tmp_path: Path,
) -> None:
    commands = [
        m for line in header() if (m := re.fullmatch(r"(\.venv/bin/kinerja-dev-token .+)", line))
    ]
    assert len(commands) == 1, header()
    argv = commands[0].group(1).split()
    assert argv[1:3] == ["jwks-path", "--dir"], argv
    key_dir = Path(argv[3])
    assert key_dir == make_run_key_dir(tmp_path), "the header's directory is not make run's"

    fresh = tmp_path / "fresh-checkout"
    fresh.mkdir()
    tool = Path(sys.executable).parent / "kinerja-dev-token"
    env = {k: v for k, v in os.environ.items() if k != "KINERJA_DEV_IDP_DIR"}
    done = subprocess.run(
        [str(tool), *argv[1:]],
        cwd=fresh,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    jwks = fresh / key_dir / "jwks.json"
    assert done.stdout.strip() == jwks.resolve().as_uri()
    assert [key["kty"] for key in json.loads(jwks.read_text())["keys"]] == ["OKP"]
    # The services run as uid 10001, not the file's owner: it must be readable by others.
    assert jwks.stat().st_mode & stat.S_IROTH, oct(jwks.stat().st_mode)


def test_only_the_console_gets_the_dev_signing_key_and_read_only(tmp_path: Path) -> None:
    """The console serves the dev issuer's login: it signs with the key the services trust.
    No other container sees the key directory."""
    key_dir = make_run_key_dir(tmp_path)
    services = compose_services()
    holders = {
        name
        for name, service in services.items()
        for m in service.get("volumes", [])
        if isinstance(m, dict) and Path(m["source"]) == key_dir
    }
    assert holders == {"console"}
    [mount] = [m for m in services["console"]["volumes"] if Path(m["source"]) == key_dir]
    assert mount["read_only"] is True
    assert mount["bind"]["create_host_path"] is False
    assert services["console"]["environment"]["CONSOLE_DEV_IDP_DIR"] == mount["target"]
