"""The console's pages: overview, find a delivery, a teacher's deliveries, tertahan by reason,
redrive, the DLQ explorer and the audit log."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from kinerja_shared.events.bkn_sync import DeliveryState, RecordKind

from . import repository
from .kafka_view import RepublishRefused
from .web import ConsoleDep, OperatorDep, PageRefusal, UserDep, page, same_origin

router = APIRouter(include_in_schema=False)

PAGE_ROWS = 50
TERTAHAN_MAX = 10_000  # teachers in the CSV
TERTAHAN_GROUPS = 5_000  # (reason, school) rows on the page
SCHOOLS_PER_REASON = 100  # shown per reason when no reason is chosen
STATES = [s.value for s in DeliveryState]
KINDS = [k.value for k in RecordKind]
Text = Annotated[str, Query(max_length=100)]


def _pool(request: Request) -> Any:
    return request.app.state.runtime.db


# The overview's columns: bkn-sync's kept-count windows (entries into each state in the last
# hour and day, by whole hours; how many are in each state now).
WINDOWS = {"1h": "1 jam", "1d": "1 hari", "all": "semua"}


def _table(windows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    """(kind, column) -> state -> count, from the answer's ``windows``."""
    table: dict[tuple[str, str], dict[str, int]] = {
        (k, label): defaultdict(int) for k in KINDS for label in WINDOWS.values()
    }
    for w in windows:
        for c in w["counts"]:
            table[(c["kind"], WINDOWS[w["window"]])][c["state"]] += c["count"]
    return {key: dict(row) for key, row in table.items()}


@router.get("/")
async def overview(request: Request, c: ConsoleDep, user: UserDep) -> HTMLResponse:
    # One call for every kind and window and the breaker, from the counts bkn-sync keeps; the
    # pause beside it for operators. Kafka and the outboxes come after (overview_pipeline).
    counting = c.bkn.counts(user.token, window=list(WINDOWS))
    if user.is_operator:
        counted, paused = await asyncio.gather(counting, c.bkn.pause_state(user.token))
    else:
        counted, paused = await counting, None
    table = _table(counted["windows"])
    since = {WINDOWS[w["window"]]: w["since"] for w in counted["windows"]}
    peak = max([1, *(n for row in table.values() for n in row.values())])
    return page(
        request,
        "overview.html",
        user=user,
        kinds=KINDS,
        windows=list(WINDOWS.values()),
        since=since,
        states=STATES,
        table=table,
        peak=peak,
        breaker=counted["breaker"],
        pause=paused,
    )


@router.get("/overview/pipeline")
async def overview_pipeline(request: Request, c: ConsoleDep, user: OperatorDep) -> HTMLResponse:
    """The overview's operator panels: consumer lag, DLQ sizes, outboxes, as last taken in the
    background (pipeline_view.py). Loaded by the page after it is shown."""
    figures = await c.pipeline.latest()
    return page(
        request,
        "overview_pipeline.html",
        user=user,
        lag=figures.lag,
        dlq=figures.dlq,
        outbox=figures.outbox,
        taken_at=figures.taken_at,
    )


@router.get("/deliveries")
async def find(
    request: Request,
    c: ConsoleDep,
    user: UserDep,
    nip: Text = "",
    npsn: Text = "",
    school: Text = "",
    period_id: Text = "",
    state: Text = "",
    reason_code: Text = "",
    kind: Text = "",
    after: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    filters = {
        "nip": nip.strip(),
        "npsn": npsn.strip(),
        "school": school.strip(),
        "period_id": period_id.strip(),
        "state": state,
        "reason_code": reason_code.strip(),
        "kind": kind,
    }
    rows = await c.bkn.deliveries(user.token, **filters, after=after, limit=PAGE_ROWS)
    more = rows[-1]["cursor"] if len(rows) == PAGE_ROWS else None
    partial = bool(request.headers.get("HX-Request")) and bool(after)
    return page(
        request,
        "rows.html" if partial else "find.html",
        user=user,
        filters=filters,
        rows=rows,
        more=more,
        states=STATES,
        kinds=KINDS,
    )


@router.get("/deliveries/{nip}")
async def teacher(request: Request, c: ConsoleDep, user: UserDep, nip: str) -> HTMLResponse:
    deliveries = await c.bkn.teacher(user.token, nip)
    history = await repository.history(_pool(request), [d["delivery_id"] for d in deliveries])
    by_delivery: dict[str, list[Any]] = defaultdict(list)
    for h in history:
        by_delivery[h["delivery_id"]].append(h)
    return page(
        request, "teacher.html", user=user, nip=nip, deliveries=deliveries, history=by_delivery
    )


async def _parked(c: Any, token: str, reason_code: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after = ""
    while len(rows) < TERTAHAN_MAX:
        got = await c.bkn.deliveries(
            token, state="PARKED", reason_code=reason_code, after=after, limit=500
        )
        rows += got
        if len(got) < 500:
            break
        after = got[-1]["cursor"]
    return rows


def _grouped(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """bkn-sync's (reason, school) counts as one section per reason, the most first."""
    reasons: dict[str, dict[str, Any]] = {}
    for g in groups:
        code = g["reason_code"] or "-"
        reason = reasons.setdefault(
            code,
            {
                "code": code,
                "reason_code": g["reason_code"] or "",
                "reason": g["reason"],
                "remedy": g["remedy"],
                "actor": g["actor"],
                "schools": [],
                "count": g["reason_count"],
                "school_count": g["reason_schools"],
            },
        )
        # The Find page with exactly this school's parked deliveries of this reason (built
        # here rather than with a filter per row in the template).
        query = {"state": "PARKED", "reason_code": g["reason_code"] or "", "npsn": g["npsn"]}
        reason["schools"].append({**g, "find": f"/deliveries?{urlencode(query)}"})
    return sorted(reasons.values(), key=lambda r: -int(r["count"]))


@router.get("/tertahan")
async def tertahan(
    request: Request,
    c: ConsoleDep,
    user: UserDep,
    reason_code: Text = "",
    dari: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HTMLResponse:
    # Every reason with its first schools; one reason (its "semua sekolah" link) with all of
    # them, a page at a time from the ``dari``-th school on.
    code = reason_code.strip()
    size = c.settings.tertahan_page_schools
    groups = await c.bkn.parked_groups(
        user.token,
        reason_code=code,
        per_reason=size if code else SCHOOLS_PER_REASON,
        skip=dari if code else 0,
        limit=TERTAHAN_GROUPS,
    )
    reasons = _grouped(groups)
    paging = None
    if code and reasons:
        shown = len(reasons[0]["schools"])
        link = f"/tertahan?{urlencode({'reason_code': code})}&dari="
        paging = {
            "first": dari + 1,
            "last": dari + shown,
            "of": reasons[0]["school_count"],
            "prev": f"{link}{max(dari - size, 0)}" if dari > 0 else None,
            "next": f"{link}{dari + size}" if dari + shown < reasons[0]["school_count"] else None,
        }
    return page(
        request,
        "tertahan.html",
        user=user,
        groups=reasons,
        total=sum(r["count"] for r in reasons),
        capped=not code and len(groups) >= TERTAHAN_GROUPS,
        reason_code=code,
        paging=paging,
    )


@router.get("/tertahan.csv")
async def tertahan_csv(c: ConsoleDep, user: UserDep, reason_code: Text = "") -> Response:
    rows = await _parked(c, user.token, reason_code.strip())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["reason_code", "reason", "actor", "remedy", "npsn", "school", "nip", "kind", "period_id"]
    )
    for r in sorted(rows, key=lambda r: (r["reason_code"] or "", r["npsn"], r["nip"])):
        writer.writerow(
            [
                r["reason_code"],
                r["reason"],
                r["actor"],
                r["remedy"],
                r["npsn"],
                r["school_name"] or "",
                r["nip"],
                r["kind"],
                r["period_id"],
            ]
        )
    name = f"tertahan-{datetime.now(UTC):%Y%m%d-%H%M}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- redrive ------------------------------------------------------------------------------------

Field100 = Annotated[str, Form(max_length=100)]


def _redrive_filters(
    state: str, reason_code: str, npsn: str, nip: str, period_id: str, kind: str
) -> dict[str, Any]:
    return {
        "states": [state] if state else ["PARKED", "DEAD"],
        "reason_codes": [r.strip() for r in reason_code.split(",") if r.strip()] or None,
        "npsn": npsn.strip() or None,
        "nip": nip.strip() or None,
        "period_id": period_id.strip() or None,
        "kind": kind or None,
    }


@router.get("/redrive")
async def redrive_form(request: Request, user: UserDep) -> HTMLResponse:
    return page(request, "redrive.html", user=user, filters={}, preview=None, done=None)


@router.post("/redrive", dependencies=[Depends(same_origin)])
async def redrive(
    request: Request,
    c: ConsoleDep,
    user: UserDep,
    action: Annotated[str, Form(pattern="^(preview|apply)$")],
    state: Field100 = "",
    reason_code: Field100 = "",
    npsn: Field100 = "",
    nip: Field100 = "",
    period_id: Field100 = "",
    kind: Field100 = "",
    why: Annotated[str, Form(max_length=500)] = "",
    expected: Annotated[int, Form(ge=0)] = 0,
) -> HTMLResponse:
    filters = _redrive_filters(state, reason_code, npsn, nip, period_id, kind)
    form = {
        "state": state,
        "reason_code": reason_code,
        "npsn": npsn,
        "nip": nip,
        "period_id": period_id,
        "kind": kind,
    }
    if action == "preview":
        preview = await c.bkn.redrive(user.token, filters, dry_run=True)
        return page(request, "redrive.html", user=user, filters=form, preview=preview, done=None)
    if not why.strip():
        raise PageRefusal(422, "REASON_REQUIRED", "Tuliskan alasan redrive.")
    pool = _pool(request)
    try:
        done = await c.bkn.redrive(user.token, filters, dry_run=False, reason=why.strip())
    except Exception as exc:
        await repository.audit(
            pool, user, "redrive", target=filters, reason=why, result=f"refused: {exc}"
        )
        raise
    await repository.audit(
        pool,
        user,
        "redrive",
        target=filters,
        reason=why,
        result=f"{done['count']} redriven",
        detail={"expected": expected, "deliveries": [d["delivery_id"] for d in done["deliveries"]]},
    )
    return page(request, "redrive.html", user=user, filters=form, preview=None, done=done)


@router.get("/redrive/progress")
async def redrive_progress(
    request: Request,
    c: ConsoleDep,
    user: UserDep,
    nip: Annotated[list[str], Query(max_length=50)],
) -> HTMLResponse:
    """Where the redriven deliveries stand now (the first 50, re-read until all settle)."""
    rows = [r for n in nip for r in await c.bkn.deliveries(user.token, nip=n, limit=10)]
    states: dict[str, int] = defaultdict(int)
    for r in rows:
        states[r["state"]] += 1
    moving = sum(states[s] for s in ("QUEUED", "IN_FLIGHT", "RETRYING"))
    return page(request, "progress.html", user=user, states=dict(states), moving=moving, nips=nip)


# --- pause ---------------------------------------------------------------------------------------

# The end time is typed in the operators' own clock (Indonesia's western time, as BKN announces
# its windows); bkn-sync is given it with its offset.
WIB = timezone(timedelta(hours=7), "WIB")


@router.get("/pause")
async def pause_page(request: Request, c: ConsoleDep, user: OperatorDep) -> HTMLResponse:
    state = await c.bkn.pause_state(user.token)
    return page(request, "pause.html", user=user, state=state, done=None)


@router.post("/pause", dependencies=[Depends(same_origin)])
async def pause_action(
    request: Request,
    c: ConsoleDep,
    user: OperatorDep,
    action: Annotated[str, Form(pattern="^(pause|resume)$")],
    why: Annotated[str, Form(max_length=500)] = "",
    until: Annotated[str, Form(max_length=40)] = "",
) -> HTMLResponse:
    """Pause every delivery to e-Kinerja (with a reason, an optional end in WIB) or resume."""
    pool = _pool(request)
    if not why.strip():
        raise PageRefusal(422, "REASON_REQUIRED", "Tuliskan alasan jeda atau kelanjutan.")
    end: str | None = None
    if action == "pause" and until.strip():
        try:
            end = datetime.fromisoformat(until.strip()).replace(tzinfo=WIB).isoformat()
        except ValueError:
            raise PageRefusal(
                422, "VALIDATION_ERROR", "Waktu akhir jeda tidak valid (YYYY-MM-DDTHH:MM)."
            ) from None
    target = {"until": end} if action == "pause" else {}
    try:
        if action == "pause":
            state = await c.bkn.pause(user.token, why.strip(), end)
        else:
            state = await c.bkn.resume(user.token)
    except Exception as exc:
        await repository.audit(
            pool, user, action, target=target, reason=why.strip(), result=f"refused: {exc}"
        )
        raise
    result = "paused" if state["paused"] else "resumed"
    await repository.audit(pool, user, action, target=target, reason=why.strip(), result=result)
    return page(request, "pause.html", user=user, state=state, done=result)


# --- DLQ explorer --------------------------------------------------------------------------------


def _known_dlq(c: Any, topic: str) -> str:
    if topic not in c.settings.dlq_topics:
        raise PageRefusal(404, "NOT_FOUND", "DLQ tidak dikenal.")
    return topic


@router.get("/dlq")
async def dlq_list(request: Request, c: ConsoleDep, user: OperatorDep) -> HTMLResponse:
    sizes = await c.kafka.sizes(c.settings.dlq_topics)
    return page(request, "dlq.html", user=user, sizes=sizes)


@router.get("/dlq/{topic}")
async def dlq_topic(
    request: Request,
    c: ConsoleDep,
    user: OperatorDep,
    topic: str,
    q: Text = "",
    newest: Annotated[int, Query(ge=1, le=500)] = 50,
) -> HTMLResponse:
    _known_dlq(c, topic)
    records = await c.kafka.records(topic, newest=newest)
    gone = await repository.discarded(_pool(request), topic)
    shown = [r for r in records if (r.partition, r.offset) not in gone and _matches(r, q)]
    return page(
        request, "dlq_topic.html", user=user, topic=topic, records=shown, q=q, newest=newest
    )


def _matches(record: Any, q: str) -> bool:
    """The filter: any header value or the key containing the text."""
    if not q:
        return True
    needle = q.lower()
    return needle in (record.key or "").lower() or any(
        needle in v.lower() for v in record.headers.values()
    )


@router.post("/dlq/{topic}/republish", dependencies=[Depends(same_origin)])
async def dlq_republish(
    request: Request,
    c: ConsoleDep,
    user: OperatorDep,
    topic: str,
    refs: Annotated[list[str], Form(max_length=500)],
    why: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    _known_dlq(c, topic)
    results: list[str] = []
    for ref in refs:
        partition, _, offset = ref.partition(":")
        record = await c.kafka.record(topic, int(partition), int(offset))
        if record is None or record.original_topic is None:
            result = "not found or no original topic"
        else:
            try:
                result = f"republished to {await c.kafka.republish(record)}"
            except RepublishRefused as exc:
                result = f"refused: {exc}"
        await repository.audit(
            _pool(request),
            user,
            "dlq.republish",
            target={"topic": topic, "ref": ref},
            reason=why or None,
            result=result,
        )
        results.append(f"{ref}: {result}")
    return page(
        request, "done.html", user=user, title="Republish", results=results, back=f"/dlq/{topic}"
    )


@router.post("/dlq/{topic}/discard", dependencies=[Depends(same_origin)])
async def dlq_discard(
    request: Request,
    c: ConsoleDep,
    user: OperatorDep,
    topic: str,
    ref: Annotated[str, Form(pattern=r"^\d+:\d+$")],
    why: Annotated[str, Form(min_length=3, max_length=500)],
) -> HTMLResponse:
    _known_dlq(c, topic)
    partition, _, offset = ref.partition(":")
    await repository.discard(_pool(request), user, topic, int(partition), int(offset), why)
    return page(
        request,
        "done.html",
        user=user,
        title="Discard",
        results=[f"{ref}: discarded"],
        back=f"/dlq/{topic}",
    )


# --- audit --------------------------------------------------------------------------------------


@router.get("/audit")
async def audit(
    request: Request, user: OperatorDep, before: Annotated[int | None, Query(ge=1)] = None
) -> HTMLResponse:
    rows = await repository.audit_rows(_pool(request), limit=100, before=before)
    more = rows[-1]["id"] if len(rows) == 100 else None
    return page(request, "audit.html", user=user, rows=rows, more=more)
