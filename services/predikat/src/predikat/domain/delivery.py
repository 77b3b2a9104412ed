"""What the Kepala Sekolah sees of a teacher's delivery (docs/domain.md §2.9), from bkn-sync's
delivery states (§2.10). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from kinerja_shared.events.bkn_sync import DeliveryState
from kinerja_shared.events.predikat import PredikatDitetapkan

from .status_texts import message


class DeliveryView(StrEnum):
    """Per-teacher state of *Kirim ke guru*, in the principal's words (the API shows the
    lowercase values)."""

    BELUM_DIKIRIM = "belum_dikirim"
    MENUNGGU = "menunggu"
    TERKIRIM = "terkirim"
    DICOBA_ULANG = "dicoba_ulang"
    TERTAHAN = "tertahan"


_VIEW_OF = {
    DeliveryState.QUEUED: DeliveryView.MENUNGGU,
    DeliveryState.IN_FLIGHT: DeliveryView.MENUNGGU,
    DeliveryState.DELIVERED: DeliveryView.TERKIRIM,
    DeliveryState.RETRYING: DeliveryView.DICOBA_ULANG,
    DeliveryState.PARKED: DeliveryView.TERTAHAN,
    DeliveryState.DEAD: DeliveryView.TERTAHAN,
}


def view_of(state: DeliveryState) -> DeliveryView | None:
    """None for SUPERSEDED: an older version was replaced, the current one says nothing new."""
    return _VIEW_OF.get(state)


@dataclass(frozen=True, slots=True)
class DeliveryFacts:
    """What one status event tells about one version of a teacher's predikat."""

    version: int
    view: DeliveryView
    state: DeliveryState | None = None
    next_attempt_at: datetime | None = None
    reason_code: str | None = None
    reason: str | None = None
    remedy: str | None = None
    actor: str | None = None


def apply_status(
    current_version: int,
    current_view: DeliveryView,
    *,
    version: int,
    state: DeliveryState,
    next_attempt_at: datetime | None = None,
    reason_code: str | None = None,
    reason: str | None = None,
    remedy: str | None = None,
    actor: str | None = None,
) -> DeliveryFacts | None:
    """The new delivery facts, or None when the status must be ignored.

    Ignored: a status of another version than the one last sent (an older version's news would
    overwrite the current one), SUPERSEDED, and anything after TERKIRIM of the same version
    (e-Kinerja has the record; a late retry notice must not hide that from the teacher).
    """
    view = view_of(state)
    if view is None or version != current_version or current_version < 1:
        return None
    if current_view is DeliveryView.TERKIRIM:
        return None
    if view is DeliveryView.DICOBA_ULANG:
        return DeliveryFacts(
            version,
            view,
            state,
            next_attempt_at=next_attempt_at,
            reason=reason,
            reason_code=reason_code,
        )
    if view is DeliveryView.TERTAHAN:
        # A parked delivery's next_attempt_at is bkn-sync's next scheduled check with e-Kinerja.
        return DeliveryFacts(
            version,
            view,
            state,
            next_attempt_at=next_attempt_at,
            reason_code=reason_code,
            reason=reason,
            remedy=remedy,
            actor=actor,
        )
    return DeliveryFacts(version, view, state)


def status_text(
    view: DeliveryView,
    next_attempt_at: datetime | None,
    *,
    state: DeliveryState | None = None,
    reason_code: str | None = None,
) -> str:
    """One line for the principal: what happened and who takes the next step
    (``status_texts``)."""
    return message(
        view.value, state=state, reason_code=reason_code, next_attempt_at=next_attempt_at
    ).text


def delivery_id(nip: str, period_id: str, version: int) -> str:
    """Stable per version: the same click twice names the same delivery."""
    return f"PREDIKAT:{nip}:{period_id}:v{version}"


def next_version(
    teacher: Mapping[str, Any],
    org: str,
    penilai_nip: str,
    now: datetime,
    *,
    predikat: str | None = None,
    correction_reason: str | None = None,
) -> PredikatDitetapkan:
    """*Kirim ke guru*: version+1 of the teacher's decided predikat (``teacher`` is their
    ``teacher_predikat`` row), or of a correction to ``predikat`` with its reason."""
    return PredikatDitetapkan(
        nip=teacher["nip"],
        npsn=teacher["npsn"],
        period_id=teacher["period_id"],
        version=teacher["version"] + 1,
        predikat=predikat or teacher["predikat"],
        hasil_kerja=teacher["hasil_kerja"],
        perilaku_kerja=teacher["perilaku_kerja"],
        predikat_organisasi=org,
        penilai_nip=penilai_nip,
        ditetapkan_at=teacher["ditetapkan_at"] or now,
        correction_reason=correction_reason,
    )
