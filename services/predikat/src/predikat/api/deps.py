"""What predikat's routes share: loading a teacher's predikat and the school's org predikat, and
*Kirim ke guru*, which stages the versions it sends through the outbox (docs/domain.md §2.9)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kinerja_shared import access, outbox, telemetry
from kinerja_shared.envelope import utcnow
from kinerja_shared.refusal import Kind, Refusal

from .. import repository
from ..domain.delivery import delivery_id, next_version
from ..domain.penetapan import org_predikat_required


def predikat_not_found() -> Refusal:
    return Refusal(
        "PREDIKAT_NOT_FOUND",
        "Predikat kinerja untuk periode ini belum tersedia: penilaian belum direkomendasikan.",
        Kind.NOT_FOUND,
    )


def not_yet_sent() -> Refusal:
    return Refusal(
        "PREDIKAT_BELUM_TERKIRIM",
        "Predikat kinerja Anda belum dikirim oleh Kepala Sekolah atau masih dalam proses "
        "pengiriman.",
        Kind.NOT_FOUND,
    )


async def locked_row(conn: repository.Tx, nip: str, period_id: str) -> Any:
    row = await repository.get_teacher(conn, nip, period_id, lock=True)
    if row is None:
        raise predikat_not_found()
    return row


async def org_predikat(conn: repository.Conn, npsn: str, period_id: str) -> str:
    """The school's org predikat, which every sent predikat carries (V-19 until it is set)."""
    org = await repository.get_org(conn, npsn, period_id)
    if org is None:
        raise org_predikat_required()
    value: str = org["predikat_organisasi"]
    return value


def atasan_of_any(nips: list[str]) -> None:
    """The Kepala Sekolah acts on a school only as the atasan of some of its teachers."""
    if not nips:
        raise access.not_atasan()


async def send(
    conn: repository.Tx,
    row: Any,
    org: str,
    penilai_nip: str,
    *,
    predikat: str | None = None,
    correction_reason: str | None = None,
) -> str:
    """Stage version+1 of ``row`` (locked by the caller); returns its delivery id."""
    sent = await send_many(
        conn, [row], org, penilai_nip, predikat=predikat, correction_reason=correction_reason
    )
    return sent[row["nip"]]


async def send_many(
    conn: repository.Tx,
    rows: Sequence[Any],
    org: str,
    penilai_nip: str,
    *,
    predikat: str | None = None,
    correction_reason: str | None = None,
) -> dict[str, str]:
    """Stage version+1 of each of ``rows`` (locked by the caller), in a fixed number of
    statements whatever their count (a school's Kirim is 40 teachers); their delivery ids by
    NIP."""
    now = utcnow()
    # The versions sent here carry this span's context to bkn-sync and e-Kinerja; its links
    # lead back to each teacher's recommendation (and from there to the rating and the plan).
    caused_by = [row["recommended_traceparent"] for row in rows]
    with telemetry.linked_span("predikat kirim ke guru", caused_by):
        events = [
            next_version(
                row, org, penilai_nip, now, predikat=predikat, correction_reason=correction_reason
            )
            for row in rows
        ]
        await repository.record_sent(conn, events)
        await outbox.add_events(conn, events)
    return {e.nip: delivery_id(e.nip, e.period_id, e.version) for e in events}
