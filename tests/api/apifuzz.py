"""Schemathesis against each service's OpenAPI document, over real HTTP on the real stack.

Every service runs as a real uvicorn server on a free port, in a child process (the app's
lifespan, asyncpg pool and Kafka consumers live there), on a fresh, migrated schema whose roster
projection is seeded with a school in AREA (its Kepala Sekolah and a teacher of theirs) and a
school elsewhere. Each generated case is sent with
the token of one of the four roles (or none, or a forged one), and its path and query values
are sometimes swapped for the seeded NIP/NPSN/period/plan so object-level checks pass sometimes.

Checks per response: no 5xx; the status code, content type, headers and body conform to the
operation's documented responses; a 4xx carries ``{code, message}`` (non-empty strings);
invalid input is refused; an operation that answers 2xx with a token also refuses it without.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import httpx
import requests
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kinerja_shared import db
from kinerja_shared.auth import DevIdentityProvider
from kinerja_tools.testing.groups import start_groups_at_end

SEED = 20_251_124
MAX_EXAMPLES = 30
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
ROLES = ("guru", "kepala_sekolah", "dinas", "operator")
# Callers besides the four roles: no header, a forged token (not ours), an expired one.
ANONYMOUS = ("no_token", "forged_token", "expired_token")
AREA = "3171"
OTHER_AREA = "3273"
PERIODS = ("2026", "2025")
REQUEST_TIMEOUT = 15.0
NUL = "\x00"

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            # Our own bearer token is added per case; generated ones would only be garbage.
            "with-security-parameters": False,
        },
        # Schema examples cannot feed the drawn caller (`given(data=...)`); coverage and
        # fuzzing still run.
        "phases": {"examples": {"enabled": False}},
    }
)

HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
    suppress_health_check=list(HealthCheck),
)


def error_body_has_code_and_message(
    ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Every 4xx answers ``{"code": <non-empty str>, "message": <non-empty str>, ...}``."""
    del ctx, case
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(
            f"{response.status_code} body is not JSON: {response.text[:200]!r}"
        ) from exc
    ok = (
        isinstance(body, dict)
        and isinstance(body.get("code"), str)
        and bool(body["code"])
        and isinstance(body.get("message"), str)
        and bool(body["message"])
    )
    assert ok, f"{response.status_code} body lacks a code and a message: {body!r}"
    return None


def invalid_data_rejected(
    ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Schemathesis' negative-data check, with the size limits' refusals at the door (413, 414,
    431: kinerja_shared.middleware, documented on every route) counted as rejections too: an
    over-long parameter may be refused there before its own maximum is checked."""
    if response.status_code in (413, 414, 431):
        return None
    result: bool | None = negative_data_rejection(ctx, response, case)
    return result


# Three properties, each its own test so that one broken property cannot hide another (a
# Hypothesis run stops at the first failing case of an operation).
NO_SERVER_ERROR = [not_a_server_error]
ERROR_CONTRACT = [error_body_has_code_and_message]
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    invalid_data_rejected,
    ignored_auth,
]


# --- the services ------------------------------------------------------------------------------


def _modules(service: str) -> tuple[ModuleType, ModuleType, Path]:
    package = importlib.import_module(service)
    app_module = importlib.import_module(f"{service}.app")
    config = importlib.import_module(f"{service}.config")
    assert package.__file__ is not None
    return app_module, config, Path(package.__file__).parent / "migrations"


def build_app(service: str, **settings_values: Any) -> FastAPI:
    app_module, config, _ = _modules(service)
    app: FastAPI = app_module.create_app(config.Settings(**settings_values))
    return app


def openapi_document(service: str) -> dict[str, Any]:
    """The document the service serves at /openapi.json (no database or broker needed)."""
    app = build_app(
        service,
        database_url="postgresql://openapi@127.0.0.1:9/openapi",
        db_schema="openapi",
        consumer_group="openapi",
        jwt_jwks_url="file:///nonexistent/jwks.json",
    )
    return app.openapi()


def openapi_schema(service: str) -> Any:
    return schemathesis.openapi.from_dict(openapi_document(service), config=CONFIG)


def _nip(rng: secrets.SystemRandom) -> str:
    born = date(1970, 1, 1) + timedelta(days=rng.randrange(25 * 365))
    tmt = f"{born.year + 22 + rng.randrange(10)}{1 + rng.randrange(12):02d}"
    return f"{born:%Y%m%d}{tmt}{1 + rng.randrange(2)}{rng.randrange(1000):03d}"


@dataclass(frozen=True)
class People:
    """One school in AREA (a Kepala Sekolah, a teacher of theirs) and one in OTHER_AREA."""

    npsn: str
    other_npsn: str
    ks: str
    guru: str
    other_guru: str

    @classmethod
    def random(cls) -> People:
        rng = secrets.SystemRandom()
        return cls(
            npsn=f"{20_000_000 + rng.randrange(9_999_999):08d}",
            other_npsn=f"{30_000_000 + rng.randrange(9_999_999):08d}",
            ks=_nip(rng),
            guru=_nip(rng),
            other_guru=_nip(rng),
        )


async def seed_roster(conn: asyncpg.Connection, people: People) -> None:
    now = datetime.now(UTC)
    await conn.executemany(
        """INSERT INTO roster_sekolah (npsn, nama, kode_wilayah, naungan, updated_at)
           VALUES ($1, $2, $3, 'KEMENDIKDASMEN', $4)""",
        [
            (people.npsn, "SMP Negeri Uji API", AREA, now),
            (people.other_npsn, "SMP Negeri Lain", OTHER_AREA, now),
        ],
    )
    await conn.executemany(
        """INSERT INTO roster_pegawai (nip, nama, npsn, jenis_ptk, status_kepegawaian, naungan,
               kode_wilayah, atasan_nip, atasan_plt, aktif, updated_at)
           VALUES ($1, $2, $3, $4, 'PNS', 'KEMENDIKDASMEN', $5, $6, false, true, $7)""",
        [
            (people.ks, "Kepala Uji", people.npsn, "Kepala Sekolah", AREA, None, now),
            (people.guru, "Guru Uji", people.npsn, "Guru Mapel", AREA, people.ks, now),
            (
                people.other_guru,
                "Guru Lain",
                people.other_npsn,
                "Guru Kelas",
                OTHER_AREA,
                None,
                now,
            ),
        ],
    )


Prepare = Callable[["RunningService"], None]


@dataclass
class RunningService:
    name: str
    url: str
    idp: DevIdentityProvider
    people: People
    schema: str
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session)
    # Ids of objects created through the API before the run (e.g. plans), by parameter name.
    known: dict[str, list[str]] = field(default_factory=dict)

    def token(self, caller: str) -> str | None:
        p = self.people
        match caller:
            case "guru":
                return self.idp.mint(role="guru", nip=p.guru, npsn=p.npsn)
            case "kepala_sekolah":
                return self.idp.mint(role="kepala_sekolah", nip=p.ks, npsn=p.npsn)
            case "dinas":
                return self.idp.mint(role="dinas", area=AREA)
            case "operator":
                return self.idp.mint(role="operator")
            case "expired_token":
                issued = datetime.now(UTC) - timedelta(hours=2)
                return self.idp.mint(role="guru", nip=p.guru, npsn=p.npsn, ttl=60, now=issued)
            case "forged_token":
                forger = DevIdentityProvider(self.idp.directory.parent / "forger")
                return forger.mint(role="operator")
            case _:
                return None

    def headers(self, caller: str) -> dict[str, str]:
        token = self.token(caller)
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    def values(self, name: str) -> list[str]:
        """Seeded values worth sending for a path or query parameter called ``name``."""
        p = self.people
        pools = {
            "nip": [p.guru, p.ks, p.other_guru],
            "npsn": [p.npsn, p.other_npsn],
            "period_id": list(PERIODS),
            "period": list(PERIODS),
        }
        return [*pools.get(name, []), *self.known.get(name, [])]


SERVE_ENV = "KINERJA_APIFUZZ_SERVE"
STARTUP_SECONDS = 90.0


@contextlib.contextmanager
def running_service(
    service: str,
    *,
    pg_admin_dsn: str,
    kafka_bootstrap: str,
    tmp: Path,
    prepare: Prepare | None = None,
    env: dict[str, str] | None = None,
    **settings_values: Any,
) -> Iterator[RunningService]:
    """Serve ``service`` on a fresh schema, in a process of its own, until the block exits;
    ``env`` adds to (or overrides) the environment it inherits.

    A process, not a thread: the app's lifespan, logging and Kafka consumers stay out of the
    test process (CPython 3.11 can also fail a ``compile()`` racing another thread's, which
    tracebacks and imports do).
    """
    people = People.random()
    idp = DevIdentityProvider(tmp / "idp")
    schema = f"api_{service}_{secrets.token_hex(4)}"
    config = {
        "service": service,
        "schema": schema,
        "people": asdict(people),
        "settings": {
            "database_url": pg_admin_dsn,
            "db_schema": schema,
            "kafka_bootstrap": kafka_bootstrap,
            "consumer_group": f"api-{service}-{secrets.token_hex(4)}",
            "jwt_jwks_url": idp.jwks_url,
            "outbox_poll_seconds": 0.5,
            "graceful_shutdown_seconds": 5.0,
            **settings_values,
        },
    }
    log_path = tmp / f"{service}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, __file__],
            # Without this process's service name: an app built here earlier set it, and the
            # child would log as that service.
            env={
                **{k: v for k, v in os.environ.items() if k != "OTEL_SERVICE_NAME"},
                **(env or {}),
                SERVE_ENV: json.dumps(config),
            },
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        port = _await_port(proc, log_path)
        running = RunningService(service, f"http://127.0.0.1:{port}", idp, people, schema, log_path)
        if prepare is not None:
            prepare(running)
        yield running
    finally:
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown; the child drops its schema
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def _await_port(proc: subprocess.Popen[bytes], log_path: Path) -> int:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], STARTUP_SECONDS)
    line = proc.stdout.readline().decode() if ready else ""
    if not line.startswith("READY "):
        proc.kill()
        proc.wait()
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"server did not start ({line!r}); its log ends:\n{tail}")
    return int(line.split()[1])


class _AnnouncingServer(uvicorn.Server):
    """Tells the parent its port on stdout once the lifespan started and the socket listens."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and sockets:
            print(f"READY {sockets[0].getsockname()[1]}", flush=True)


def _serve_from_env() -> None:
    """The child process: migrate, seed the roster, serve; drop the schema on SIGINT."""
    config = json.loads(os.environ[SERVE_ENV])
    settings = config["settings"]
    dsn, schema = settings["database_url"], config["schema"]
    _, _, migrations = _modules(config["service"])
    app = build_app(config["service"], **settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = _AnnouncingServer(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    )

    async def main() -> None:
        # Consume only what is published from now on: the roster is seeded below, and a fresh
        # group replaying every topic would load the stack (and, for bkn-sync, redeliver).
        await start_groups_at_end(settings["kafka_bootstrap"], [settings["consumer_group"]])
        await db.migrate(dsn, schema, migrations)
        conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        try:
            await seed_roster(conn, People(**config["people"]))
        finally:
            await conn.close()
        try:
            await server.serve(sockets=[sock])
        finally:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()

    asyncio.run(main())


# --- one generated case ------------------------------------------------------------------------


def _swap(data: st.DataObject, running: RunningService, values: dict[str, Any], where: str) -> None:
    for name in list(values):
        known = running.values(name)
        if known:
            choice = data.draw(st.sampled_from([None, *known]), label=f"{where}.{name}")
            if choice is not None:
                values[name] = choice


def exercise(
    case: schemathesis.Case,
    data: st.DataObject,
    running: RunningService,
    checks: list[Any],
) -> None:
    """Send ``case`` as one drawn caller (seeded values swapped in sometimes); run ``checks``."""
    caller = data.draw(st.sampled_from(ROLES + ROLES + ANONYMOUS), label="caller")
    if case.path_parameters:
        _swap(data, running, case.path_parameters, "path")
    if case.query:
        _swap(data, running, case.query, "query")
    case.call_and_validate(
        base_url=running.url,
        session=running.session,
        headers=running.headers(caller),
        checks=checks,
        timeout=REQUEST_TIMEOUT,
    )


def send(
    running: RunningService, caller: str, method: str, path: str, body: Any = None
) -> httpx.Response:
    """One request as ``caller``; ``{guru}``, ``{ks}``, ``{npsn}``, ``{nul}`` in ``path`` are
    the seeded teacher, Kepala Sekolah, school, and a percent-encoded NUL."""
    p = running.people
    url = running.url + path.format(guru=p.guru, ks=p.ks, npsn=p.npsn, nul="%00")
    return httpx.request(
        method, url, json=body, headers=running.headers(caller), timeout=REQUEST_TIMEOUT
    )


def assert_refused_with_code(response: httpx.Response) -> None:
    """A 4xx with ``{code, message}``, not a 500."""
    assert 400 <= response.status_code < 500, (
        f"{response.request.method} {response.request.url} -> {response.status_code} "
        f"{response.text[:300]}"
    )
    body = response.json()
    assert body.get("code"), body
    assert body.get("message"), body


# --- the document ------------------------------------------------------------------------------


def missing_error_responses(document: dict[str, Any]) -> list[str]:
    """What each operation fails to document: 401 always, 422 when it takes input, and for
    every documented 4xx an application/json schema requiring ``code`` and ``message``."""
    components = document.get("components", {}).get("schemas", {})

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return resolve(components[ref.rsplit("/", 1)[1]])
        return schema

    problems: list[str] = []
    for path, operations in document["paths"].items():
        if path in OPS_PATHS:
            continue
        for method, op in operations.items():
            label = f"{method.upper()} {path}"
            responses = op.get("responses", {})
            wanted = {"401"}
            if op.get("parameters") or op.get("requestBody"):
                wanted.add("422")
            problems += [f"{label}: no {s} response" for s in sorted(wanted - set(responses))]
            for status, response in responses.items():
                if not status.startswith("4"):
                    continue
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                required = set(resolve(schema).get("required", [])) if schema else set()
                if not {"code", "message"} <= required:
                    problems.append(f"{label}: {status} does not document {{code, message}}")
    return problems


if __name__ == "__main__":
    _serve_from_env()
