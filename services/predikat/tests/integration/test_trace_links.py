"""A school's Kirim ke guru starts a trace of its own (the click, bkn-sync, e-Kinerja) and
links it to the trace of every teacher's recommendation that led to it; the linked trace ids
are also a span attribute, which Zipkin (no span links in its model) shows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kinerja_shared import telemetry
from kinerja_shared.topics import PREDIKAT_DITETAPKAN
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.spans import captured_spans, trace_id_of

from .conftest import PERIOD, Env, make_school

pytestmark = pytest.mark.infra


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with captured_spans() as memory:
        yield memory


async def test_kirim_links_the_trace_of_each_teachers_recommendation(
    env: Env, spans: InMemorySpanExporter
) -> None:
    school = await make_school(env, 3)
    tracer = trace.get_tracer(__name__)
    rating_traces: dict[str, str] = {}
    for nip in school.teachers:
        with tracer.start_as_current_span("assessment rating (as assessment would)") as rating:
            await school.recommend(nip, "BAIK")
            rating_traces[nip] = trace_id_of(rating)

    async def all_there() -> bool:
        r = await env.client.get(f"/sekolah/{school.npsn}/{PERIOD}", headers=school.ks_auth)
        return r.status_code == 200 and len(r.json()["teachers"]) == 3

    await wait_for(all_there, timeout=30, what="recommendations as DRAF rows")
    org = await env.client.put(
        f"/organisasi/{school.npsn}/{PERIOD}",
        json={"predikat_organisasi": "ISTIMEWA"},
        headers=school.dinas_auth,
    )
    assert org.status_code == 200, org.text
    path = f"/sekolah/{school.npsn}/{PERIOD}"
    assert (await env.client.post(f"{path}/tetapkan", json={}, headers=school.ks_auth)).is_success
    assert (await env.client.post(f"{path}/kirim", headers=school.ks_auth)).status_code == 202

    kirim = [
        s
        for s in spans.get_finished_spans()
        if s.name == "predikat kirim ke guru"
        and {trace_id_of(link) for link in s.links} == set(rating_traces.values())
    ]
    assert len(kirim) == 1, [(s.name, s.links) for s in spans.get_finished_spans()]
    [span] = kirim
    assert span.attributes is not None
    assert span.attributes[telemetry.LINKED_TRACES] == ",".join(sorted(rating_traces.values()))
    # The click's trace is not any teacher's: it is the one the versions sent travel in.
    assert trace_id_of(span) not in rating_traces.values()

    conn = await env.connect()
    try:
        rows = await conn.fetch(
            "SELECT headers::text AS headers FROM outbox WHERE topic = $1 AND key = ANY($2)",
            PREDIKAT_DITETAPKAN.name,
            school.teachers,
        )
    finally:
        await conn.close()
    assert len(rows) == 3
    assert all(trace_id_of(span) in row["headers"] for row in rows), rows
