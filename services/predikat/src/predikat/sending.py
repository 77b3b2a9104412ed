"""*Kirim ke guru*: publish a teacher's decided predikat through the outbox (DOMAIN.md §2.9)."""

from __future__ import annotations

from typing import Any

from kinerja_shared import outbox
from kinerja_shared.envelope import utcnow
from kinerja_shared.events.predikat import PredikatDitetapkan
from kinerja_shared.topics import PREDIKAT_CURRENT, PREDIKAT_DITETAPKAN

from . import repository
from .domain.delivery import delivery_id


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
    version = row["version"] + 1
    value = predikat or row["predikat"]
    did = delivery_id(row["nip"], row["period_id"], version)
    await repository.record_sent(
        conn,
        nip=row["nip"],
        period_id=row["period_id"],
        version=version,
        predikat=value,
        delivery_id=did,
        correction_reason=correction_reason,
        by=penilai_nip,
    )
    sent = PredikatDitetapkan(
        nip=row["nip"],
        npsn=row["npsn"],
        period_id=row["period_id"],
        version=version,
        predikat=value,
        hasil_kerja=row["hasil_kerja"],
        perilaku_kerja=row["perilaku_kerja"],
        predikat_organisasi=org,
        penilai_nip=penilai_nip,
        ditetapkan_at=row["ditetapkan_at"] or utcnow(),
        correction_reason=correction_reason,
    )
    await outbox.add_event(conn, PREDIKAT_DITETAPKAN, row["nip"], sent)
    # The compacted state topic keeps only the latest version per teacher and period, so a new
    # consumer can start from it instead of replaying the history.
    current = PREDIKAT_CURRENT.envelope(row["nip"], sent)
    await outbox.add(conn, PREDIKAT_CURRENT, current, key=f"{row['nip']}:{row['period_id']}")
    return did
