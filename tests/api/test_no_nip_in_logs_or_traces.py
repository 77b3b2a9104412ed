"""No personal data where it does not belong, on the real servers: requests that name teachers
in their paths and queries leave access lines by route template and no NIP anywhere in the
service's log, and the spans exported to Zipkin carry the teacher's token, never the NIP."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from apifuzz import RunningService, running_service

from kinerja_shared import pii
from kinerja_tools.testing.stack import Stack
from kinerja_tools.testing.waiting import wait_for

pytestmark = pytest.mark.infra

NIP_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{18}(?![0-9A-Za-z])")

# (service, caller, method, path, template of the access line); {guru} and {ks} are NIPs.
REQUESTS = [
    ("observation", "guru", "GET", "/observations/{guru}/2026", "/observations/{nip}/{period_id}"),
    ("observation", "kepala_sekolah", "GET", "/observations/{guru}/2026/followup", None),
    ("observation", "dinas", "GET", "/observations/{ks}/2026/duties", None),
    ("observation", "guru", "PUT", "/observations/{ks}/2026/duties", None),
    ("bkn_sync", "operator", "GET", "/deliveries/{guru}", "/deliveries/{nip}"),
    ("bkn_sync", "operator", "GET", "/deliveries?nip={guru}", "/deliveries"),
    ("bkn_sync", None, "GET", "/deliveries/{ks}", None),
    ("planning", "kepala_sekolah", "GET", "/plans?nip={guru}", "/plans"),
]


def _send(running: RunningService, caller: str | None, method: str, path: str) -> None:
    p = running.people
    response = httpx.request(
        method,
        running.url + path.format(guru=p.guru, ks=p.ks),
        json={"tugas": ["Mengajar"]} if method == "PUT" else None,
        headers=running.headers(caller) if caller else {},
        timeout=10,
    )
    assert response.status_code < 500, response.text


def _access_lines(running: RunningService) -> list[dict[str, Any]]:
    lines = []
    for raw in running.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if record.get("logger") == "kinerja.access":
            lines.append(record)
    return lines


# Synchronous tests: the session's service fixtures start their servers with asyncio.run.
@pytest.mark.parametrize("service", ["observation", "bkn_sync", "planning"])
def test_access_lines_name_routes_and_the_log_holds_no_nip(
    service: str, request: pytest.FixtureRequest
) -> None:
    running: RunningService = request.getfixturevalue(f"{service}_api")
    mine = [r for r in REQUESTS if r[0] == service]
    before = len(_access_lines(running))
    for _, caller, method, path, _ in mine:
        _send(running, caller, method, path)

    async def logged() -> list[dict[str, Any]] | None:
        lines = _access_lines(running)[before:]
        return lines if len(lines) >= len(mine) else None

    lines = asyncio.run(wait_for(logged, timeout=30, what=f"{len(mine)} access lines of {service}"))

    routes = {line["http_route"] for line in lines}
    assert {template for *_, template in mine if template} <= routes
    assert all("{" in r or r.count("/") <= 1 for r in routes), routes
    log = running.log_path.read_text(encoding="utf-8", errors="replace")
    found = NIP_IN_TEXT.findall(log)
    assert found == [], f"NIPs in {running.log_path}: {sorted(set(found))[:5]}"


TRACE_KEY = "api-test-trace-key"


@pytest.fixture(scope="module")
def exporting(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """observation exporting its spans to the stack's Zipkin (tests export none otherwise),
    with a NIP hash key of its own."""
    with running_service(
        "observation",
        pg_admin_dsn=stack.pg_admin_dsn,
        kafka_bootstrap=stack.kafka_bootstrap,
        tmp=tmp_path_factory.mktemp("api-traces"),
        env={
            "OTEL_TRACES_EXPORTER": "zipkin",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            pii.KEY_ENV: TRACE_KEY,
        },
    ) as running:
        yield running


def test_exported_spans_carry_the_teachers_token_not_the_nip(
    exporting: RunningService, stack: Stack
) -> None:
    guru = exporting.people.guru
    token = pii.nip_token(guru, TRACE_KEY.encode())
    _send(exporting, "guru", "GET", "/observations/{guru}/2026")
    _send(exporting, "operator", "GET", "/observations/{guru}/2026/history?nip={guru}")

    async def traces(tag_value: str) -> list[Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(
                f"{stack.zipkin_url}/api/v2/traces",
                params={"annotationQuery": f"kinerja.nip={tag_value}", "limit": 50},
            )
        response.raise_for_status()
        found: list[Any] = response.json()
        return found

    async def both_exported() -> list[Any] | None:
        found = await traces(token)
        return found if len(found) >= 2 else None

    found = asyncio.run(wait_for(both_exported, timeout=60, interval=0.5, what="the spans"))

    exported = json.dumps(found)
    assert guru not in exported
    assert token in exported
    assert asyncio.run(traces(guru)) == []
