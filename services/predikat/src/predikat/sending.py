"""*Kirim ke guru*: publish teachers' decided predikat through the outbox (DOMAIN.md §2.9)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kinerja_shared import outbox, telemetry
from kinerja_shared.envelope import utcnow
from kinerja_shared.events.predikat import PredikatDitetapkan
from kinerja_shared.outbox import Staged
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
    versions: list[dict[str, Any]] = []
    staged: list[Staged] = []
    headers = telemetry.current_trace_headers()
    for row in rows:
        version = row["version"] + 1
        event = PredikatDitetapkan(
            nip=row["nip"],
            npsn=row["npsn"],
            period_id=row["period_id"],
            version=version,
            predikat=predikat or row["predikat"],
            hasil_kerja=row["hasil_kerja"],
            perilaku_kerja=row["perilaku_kerja"],
            predikat_organisasi=org,
            penilai_nip=penilai_nip,
            ditetapkan_at=row["ditetapkan_at"] or utcnow(),
            correction_reason=correction_reason,
        )
        versions.append(
            {
                "nip": event.nip,
                "period_id": event.period_id,
                "version": version,
                "predikat": event.predikat,
                "delivery_id": delivery_id(event.nip, event.period_id, version),
                "correction_reason": correction_reason,
                "sent_by": penilai_nip,
            }
        )
        staged.append(
            Staged.of(PREDIKAT_DITETAPKAN, PREDIKAT_DITETAPKAN.envelope(event.nip, event), headers)
        )
        # The compacted state topic keeps only the latest version per teacher and period, so a
        # new consumer can start from it instead of replaying the history.
        staged.append(
            Staged.of(
                PREDIKAT_CURRENT,
                PREDIKAT_CURRENT.envelope(event.nip, event),
                headers,
                key=f"{event.nip}:{event.period_id}",
            )
        )
    await repository.record_sent(conn, versions)
    await outbox.add_many(conn, staged)
    return {v["nip"]: v["delivery_id"] for v in versions}
