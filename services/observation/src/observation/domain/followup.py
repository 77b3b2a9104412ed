"""The follow-up after the observation (docs/domain.md §2.4, *Pelaksanaan Tindak Lanjut*).

BELUM_MULAI → UPAYA_BERJALAN (the Guru logs actions) → REFLEKSI_DIKIRIM (the Guru reflects) →
DITINJAU (the Kepala Sekolah acknowledges, optional comment). It opens when the observation's
feedback is given; before that the follow-up does not exist. An open follow-up of a teacher who
transferred out becomes DIBATALKAN; what was logged stays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from kinerja_shared.events.observation import FollowupReflected
from kinerja_shared.refusal import Refusal

from .observation import Observation, event_facts
from .refusals import wrong_state


class FollowupState(StrEnum):
    BELUM_MULAI = "BELUM_MULAI"
    UPAYA_BERJALAN = "UPAYA_BERJALAN"
    REFLEKSI_DIKIRIM = "REFLEKSI_DIKIRIM"
    DITINJAU = "DITINJAU"
    DIBATALKAN = "DIBATALKAN"


CLOSED = frozenset({FollowupState.DITINJAU, FollowupState.DIBATALKAN})


@dataclass(frozen=True)
class Action:
    text: str
    at: datetime


@dataclass(frozen=True)
class Followup:
    nip: str
    period_id: str
    state: FollowupState = FollowupState.BELUM_MULAI
    revision: int = 0
    actions: tuple[Action, ...] = ()
    reflection: str | None = None
    reflected_at: datetime | None = None
    review_comment: str | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None


def not_open() -> Refusal:
    return Refusal(
        "FOLLOWUP_NOT_OPEN",
        "Tindak lanjut dapat dimulai setelah umpan balik observasi diberikan.",
    )


def log_action(f: Followup, text: str, *, now: datetime) -> Followup:
    text = text.strip()
    if not text:
        raise Refusal("FOLLOWUP_ACTION_REQUIRED", "Tuliskan upaya tindak lanjut yang dilakukan.")
    if f.state not in (FollowupState.BELUM_MULAI, FollowupState.UPAYA_BERJALAN):
        raise wrong_state(f.state.value, "menambah upaya tindak lanjut")
    if f.actions and f.actions[-1].text == text:
        # The same action again is a retried request, not a second action.
        return f
    return replace(
        f,
        state=FollowupState.UPAYA_BERJALAN,
        revision=f.revision + 1,
        actions=(*f.actions, Action(text, now)),
    )


def submit_reflection(f: Followup, text: str, *, now: datetime) -> Followup:
    text = text.strip()
    if not text:
        raise Refusal("FOLLOWUP_REFLECTION_REQUIRED", "Tuliskan refleksi tindak lanjut Anda.")
    if f.state is FollowupState.REFLEKSI_DIKIRIM and f.reflection == text:
        return f
    if f.state is not FollowupState.UPAYA_BERJALAN:
        raise wrong_state(f.state.value, "mengirim refleksi sebelum ada upaya tindak lanjut")
    return replace(
        f,
        state=FollowupState.REFLEKSI_DIKIRIM,
        revision=f.revision + 1,
        reflection=text,
        reflected_at=now,
    )


def review(f: Followup, comment: str | None, *, by_nip: str, now: datetime) -> Followup:
    comment = (comment or "").strip() or None
    if f.state is FollowupState.DITINJAU and f.review_comment == comment:
        return f
    if f.state is not FollowupState.REFLEKSI_DIKIRIM:
        raise wrong_state(f.state.value, "ditinjau")
    return replace(
        f,
        state=FollowupState.DITINJAU,
        revision=f.revision + 1,
        review_comment=comment,
        reviewed_by=by_nip,
        reviewed_at=now,
    )


def cancel(f: Followup) -> Followup:
    """Close an open follow-up that will never be finished (the teacher left the school)."""
    if f.state in CLOSED:
        return f
    return replace(f, state=FollowupState.DIBATALKAN, revision=f.revision + 1)


def reflected_event(obs: Observation, f: Followup) -> FollowupReflected:
    """What a submitted reflection of ``obs``'s follow-up publishes."""
    assert f.reflection is not None
    assert f.reflected_at is not None
    return FollowupReflected(
        **event_facts(obs),
        actions=len(f.actions),
        reflection=f.reflection,
        reflected_at=f.reflected_at,
    )
