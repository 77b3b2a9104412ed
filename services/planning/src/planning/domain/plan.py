"""The plan (SKP) aggregate and its state machine (docs/domain.md §2.2, §5 V-03..V-11).

DRAF → DIAJUKAN → (DIKEMBALIKAN → DRAF → DIAJUKAN)* → DISETUJUI → DISEPAKATI, and after
agreement DISEPAKATI → DIREVISI → DIAJUKAN → … → DISEPAKATI again; a submitted plan may be
withdrawn to DRAF. A returned plan becomes a DRAF again by being edited, so the atasan only ever
sees a resubmission the teacher has touched.

Two counters: ``version`` rises by one on every accepted command (optimistic concurrency, V-15;
events carry it, so consumers can tell a newer SKP from an older one), ``revision`` numbers the
SKP itself: 1 for the first agreement, +1 each time an agreed plan is reopened. Once a revision
is agreed its content never changes; a change is the next revision.

Every command returns the new plan and the events it causes, so the caller stores both in one
transaction. A plan is immutable: a refused command leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from kinerja_shared.events.base import Payload
from kinerja_shared.events.planning import (
    ApprovedBy,
    PlanAgreed,
    PlanApproved,
    PlanReturned,
    PlanRevised,
    PlanSubmitted,
)
from kinerja_shared.refusal import Kind, Refusal

from .catalog import Catalog

RETURN_NOTE_MIN_CHARS = 20
REVISION_REASON_MIN_CHARS = 20
REVISION_REASON_MESSAGE = "Tuliskan alasan perubahan perencanaan kinerja."

NO_ATASAN_MESSAGE = "Data atasan Anda tidak ditemukan"
NO_ATASAN_REMEDY = (
    "Operator Sekolah memastikan data Kepala Sekolah di Dapodik sudah benar; bila sekolah "
    "dipimpin Plt. Kepala Sekolah, Admin Dapodik Dinas Pendidikan harus mengisi jabatan dan "
    "tugas tambahan Plt. tersebut. Setelah data Dapodik diperbarui, perencanaan ini diajukan "
    "otomatis kepada atasan yang tercatat; bila perencanaan diubah sebelum itu, ajukan kembali "
    "sendiri."
)
RESUMED_SUBMISSION_NOTE = (
    "Diajukan otomatis setelah data atasan diperbarui di Dapodik; pengajuan guru tertahan "
    "(V-03) sejak"
)
NOT_ATASAN_MESSAGE = "Anda bukan atasan langsung pegawai ini."
PLT_APPROVAL_NOTE = "Disetujui otomatis oleh sistem untuk Plt. Kepala Sekolah"


class PlanState(StrEnum):
    DRAF = "DRAF"
    DIAJUKAN = "DIAJUKAN"
    DIKEMBALIKAN = "DIKEMBALIKAN"
    DISETUJUI = "DISETUJUI"
    DISEPAKATI = "DISEPAKATI"
    DIREVISI = "DIREVISI"


EDITABLE = frozenset({PlanState.DRAF, PlanState.DIKEMBALIKAN, PlanState.DIREVISI})
SUBMITTABLE = frozenset({PlanState.DRAF, PlanState.DIREVISI})


@dataclass(frozen=True)
class TugasTambahan:
    nama: str
    deskripsi: str = ""
    surat_tugas: str | None = None

    def label(self) -> str:
        return f"{self.nama}: {self.deskripsi}" if self.deskripsi else self.nama


@dataclass(frozen=True)
class PlanContent:
    """What the teacher writes. Drafts may be incomplete; ``validate`` guards submission."""

    sub_indikator: tuple[str, ...] = ()
    indikator_kompetensi: tuple[str, ...] = ()
    tugas_pokok: tuple[str, ...] = ()
    tugas_tambahan: tuple[TugasTambahan, ...] = ()
    perilaku_fokus: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "sub_indikator": list(self.sub_indikator),
            "indikator_kompetensi": list(self.indikator_kompetensi),
            "tugas_pokok": list(self.tugas_pokok),
            "tugas_tambahan": [
                {"nama": t.nama, "deskripsi": t.deskripsi, "surat_tugas": t.surat_tugas}
                for t in self.tugas_tambahan
            ],
            "perilaku_fokus": list(self.perilaku_fokus),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PlanContent:
        return cls(
            sub_indikator=tuple(raw.get("sub_indikator", ())),
            indikator_kompetensi=tuple(raw.get("indikator_kompetensi", ())),
            tugas_pokok=tuple(raw.get("tugas_pokok", ())),
            tugas_tambahan=tuple(TugasTambahan(**t) for t in raw.get("tugas_tambahan", ())),
            perilaku_fokus=tuple(raw.get("perilaku_fokus", ())),
        )


def content_violations(content: PlanContent, catalog: Catalog, rules_version: int) -> list[Refusal]:
    """Every broken content rule, in V-code order (empty when the plan may be submitted)."""
    found: list[Refusal] = []
    subs = content.sub_indikator
    if len(subs) != 1 or subs[0] not in catalog.sub_indikator:
        found.append(Refusal("V-05", "Pilih tepat satu sub indikator sebagai fokus utama."))
    komp = content.indikator_kompetensi
    if len(komp) != 1 or komp[0] not in catalog.indikator_kompetensi:
        found.append(Refusal("V-06", "Pilih satu indikator kompetensi."))
    fokus = content.perilaku_fokus
    if not fokus or len(set(fokus)) != len(fokus) or not set(fokus) <= catalog.perilaku:
        found.append(Refusal("V-07", "Pilih minimal satu perilaku kerja BerAKHLAK."))
    for t in content.tugas_tambahan:
        # 2024 rules asked for the assignment letter, 2025 for a written description.
        if rules_version == 2024 and not (t.surat_tugas or "").strip():
            found.append(Refusal("V-08", "Unggah Surat Tugas atau Keputusan."))
            break
        if rules_version != 2024 and not (t.nama.strip() and t.deskripsi.strip()):
            found.append(Refusal("V-08", "Lengkapi tugas tambahan."))
            break
    return found


def validate_content(content: PlanContent, catalog: Catalog, rules_version: int) -> None:
    found = content_violations(content, catalog, rules_version)
    if found:
        first = found[0]
        raise Refusal(
            first.code,
            first.message,
            violations=[{"code": v.code, "message": v.message} for v in found],
        )


@dataclass(frozen=True)
class Atasan:
    """The teacher's supervisor as the roster has it now."""

    nip: str | None
    plt: bool = False


@dataclass(frozen=True)
class Transition:
    """The plan after a command, the events it causes and, when the system rather than the
    caller made the change (a Plt.'s automatic approval), who the history names and why."""

    plan: Plan
    events: tuple[Payload, ...] = ()
    system_actor: str | None = None
    system_note: str | None = None

    def actor(self, caller: str) -> str:
        return self.system_actor or caller

    def note(self, caller: str, note: str | None) -> str | None:
        if self.system_note is None:
            return note
        return f"{self.system_note} Dipicu oleh {caller}."


@dataclass(frozen=True)
class Plan:
    plan_id: str
    nip: str
    npsn: str
    period_id: str
    rules_version: int
    state: PlanState = PlanState.DRAF
    version: int = 1
    revision: int = 1
    revision_reason: str | None = None
    content: PlanContent = field(default_factory=PlanContent)
    atasan_nip: str | None = None
    return_note: str | None = None
    approved_by: ApprovedBy | None = None
    submitted_at: datetime | None = None
    approved_at: datetime | None = None
    agreed_at: datetime | None = None

    # --- commands -------------------------------------------------------------------------

    def edit(self, content: PlanContent, catalog: Catalog) -> Transition:
        """Rewrite the content; a returned plan becomes a draft again (DIKEMBALIKAN → DRAF).

        The return note stays until the next submission, so the teacher still sees it.
        """
        self._require(EDITABLE, "diubah")
        _reject_unknown_codes(content, catalog)
        state = PlanState.DRAF if self.state is PlanState.DIKEMBALIKAN else self.state
        return Transition(self._next(content=content, state=state))

    def submit(self, atasan: Atasan, catalog: Catalog, now: datetime) -> Transition:
        self._require(SUBMITTABLE, "diajukan")
        validate_content(self.content, catalog, self.rules_version)
        if atasan.nip is None:
            raise Refusal(
                "V-03",
                NO_ATASAN_MESSAGE,
                remedy=NO_ATASAN_REMEDY,
                nip=self.nip,
                waits_for_atasan=True,
                version=self.version,
            )
        submitted = self._next(
            state=PlanState.DIAJUKAN, atasan_nip=atasan.nip, submitted_at=now, return_note=None
        )
        events: tuple[Payload, ...] = (PlanSubmitted(**submitted._facts()),)
        if atasan.plt:
            # A school led by a Plt. only: the system approves at once (docs/domain.md §1.1).
            approved = submitted._approved(ApprovedBy.SYSTEM_PLT, now, bump=False)
            return replace(approved, events=events + approved.events)
        return Transition(submitted, events)

    def resume_submission(
        self, atasan: Atasan, catalog: Catalog, now: datetime, waiting_since: datetime
    ) -> Transition:
        """The roster now names an atasan for a submission refused with V-03: submitted by the
        system as the teacher asked, with the same rules (a Plt. approves at once). Still no
        atasan, or the content no longer valid: nothing happens, the teacher acts."""
        if atasan.nip is None or self.state not in SUBMITTABLE:
            return Transition(self)
        try:
            done = self.submit(atasan, catalog, now)
        except Refusal:
            return Transition(self)
        note = f"{RESUMED_SUBMISSION_NOTE} {waiting_since.isoformat()}."
        if done.system_note is not None:
            note = f"{note} {done.system_note}"
        return replace(done, system_actor=done.system_actor or "SYSTEM_ROSTER", system_note=note)

    def withdraw(self, actor_nip: str) -> Transition:
        self._require_owner(actor_nip)
        self._require({PlanState.DIAJUKAN}, "ditarik kembali")
        return Transition(self._next(state=PlanState.DRAF))

    def approve(self, approver_nip: str, now: datetime) -> Transition:
        self._require({PlanState.DIAJUKAN}, "disetujui")
        self._require_atasan(approver_nip)
        return self._approved(ApprovedBy.KEPALA_SEKOLAH, now)

    def return_for_revision(self, approver_nip: str, note: str) -> Transition:
        self._require({PlanState.DIAJUKAN}, "dikembalikan")
        self._require_atasan(approver_nip)
        note = note.strip()
        if len(note) < RETURN_NOTE_MIN_CHARS:
            raise Refusal("V-11", "Tuliskan catatan perbaikan.", min_chars=RETURN_NOTE_MIN_CHARS)
        returned = self._next(state=PlanState.DIKEMBALIKAN, return_note=note)
        return Transition(returned, (PlanReturned(**returned._facts(), note=note),))

    def agree(self, actor_nip: str, now: datetime) -> Transition:
        self._require_owner(actor_nip)
        self._require({PlanState.DISETUJUI}, "disepakati")
        agreed = self._next(state=PlanState.DISEPAKATI, agreed_at=now)
        c = agreed.content
        skp = PlanAgreed(
            **agreed._facts(),
            sub_indikator=c.sub_indikator[0],
            indikator_kompetensi=c.indikator_kompetensi[0],
            tugas_pokok=list(c.tugas_pokok),
            tugas_tambahan=[t.label() for t in c.tugas_tambahan],
            perilaku_fokus=list(c.perilaku_fokus),
            agreed_at=now,
        )
        return Transition(agreed, (skp,))

    def revise(self, reason: str) -> Transition:
        """Reopen the agreed SKP as the next revision (DIREVISI), editable like a draft.

        The agreed content of this revision stays as it was (the caller's history keeps it);
        the new revision needs submission, approval and agreement again.
        """
        self._require({PlanState.DISEPAKATI}, "direvisi")
        reason = reason.strip()
        if len(reason) < REVISION_REASON_MIN_CHARS:
            raise Refusal(
                "PLAN_REVISION_REASON",
                REVISION_REASON_MESSAGE,
                min_chars=REVISION_REASON_MIN_CHARS,
            )
        reopened = self._next(
            state=PlanState.DIREVISI,
            revision=self.revision + 1,
            revision_reason=reason,
            return_note=None,
            approved_by=None,
            submitted_at=None,
            approved_at=None,
            agreed_at=None,
        )
        return Transition(reopened, (PlanRevised(**reopened._facts(), reason=reason),))

    def reassign_atasan(self, atasan: Atasan, now: datetime) -> Transition:
        """The roster moved the teacher to another atasan: a pending plan follows them."""
        if self.state is not PlanState.DIAJUKAN:
            return Transition(self)
        if atasan.nip == self.atasan_nip and not atasan.plt:
            return Transition(self)
        moved = self._next(atasan_nip=atasan.nip)
        if atasan.plt and atasan.nip is not None:
            return moved._approved(ApprovedBy.SYSTEM_PLT, now, bump=False)
        return Transition(moved)

    # --- helpers --------------------------------------------------------------------------

    def _approved(self, by: ApprovedBy, now: datetime, *, bump: bool = True) -> Transition:
        changes: dict[str, Any] = {
            "state": PlanState.DISETUJUI,
            "approved_by": by,
            "approved_at": now,
        }
        approved = self._next(**changes) if bump else replace(self, **changes)
        event = PlanApproved(**approved._facts(), approved_by=by, approved_at=now)
        if by is ApprovedBy.SYSTEM_PLT:
            return Transition(
                approved,
                (event,),
                system_actor=ApprovedBy.SYSTEM_PLT.value,
                system_note=f"{PLT_APPROVAL_NOTE} {approved.atasan_nip}.",
            )
        return Transition(approved, (event,))

    def _next(self, **changes: Any) -> Plan:
        return replace(self, version=self.version + 1, **changes)

    def _facts(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "nip": self.nip,
            "npsn": self.npsn,
            "period_id": self.period_id,
            "version": self.version,
            "atasan_nip": self.atasan_nip,
        }

    def _require(self, states: Collection[PlanState], verb: str) -> None:
        if self.state not in states:
            raise Refusal(
                "PLAN_STATE_CONFLICT",
                f"Perencanaan kinerja berstatus {self.state.value} sehingga tidak dapat {verb}.",
                Kind.CONFLICT,
                state=self.state.value,
            )

    def _require_atasan(self, nip: str) -> None:
        if self.atasan_nip is None or nip != self.atasan_nip:
            raise Refusal("V-10", NOT_ATASAN_MESSAGE, Kind.FORBIDDEN)

    def _require_owner(self, nip: str) -> None:
        if nip != self.nip:
            raise not_own_plan()


def not_own_plan() -> Refusal:
    return Refusal(
        "NOT_OWN_RECORD",
        "Anda hanya dapat mengubah perencanaan kinerja Anda sendiri.",
        Kind.FORBIDDEN,
    )


def stale_version() -> Refusal:
    """V-15: the command was decided on a version of the plan that is no longer current."""
    return Refusal("V-15", "Data telah berubah. Muat ulang halaman lalu coba lagi.", Kind.CONFLICT)


def already_planned() -> Refusal:
    """V-09: one plan per teacher and period."""
    return Refusal(
        "V-09", "Anda sudah memiliki perencanaan kinerja untuk periode ini.", Kind.CONFLICT
    )


def new_plan(
    *,
    plan_id: str,
    nip: str,
    npsn: str,
    period_id: str,
    rules_version: int,
    content: PlanContent,
    catalog: Catalog,
) -> Plan:
    _reject_unknown_codes(content, catalog)
    return Plan(
        plan_id=plan_id,
        nip=nip,
        npsn=npsn,
        period_id=period_id,
        rules_version=rules_version,
        content=content,
    )


def _reject_unknown_codes(content: PlanContent, catalog: Catalog) -> None:
    """Drafts may be incomplete, but never name something that is not in the catalog."""
    if not set(content.sub_indikator) <= catalog.sub_indikator:
        raise Refusal(
            "V-05",
            "Pilih tepat satu sub indikator sebagai fokus utama.",
            unknown=sorted(set(content.sub_indikator) - catalog.sub_indikator),
        )
    if not set(content.indikator_kompetensi) <= catalog.indikator_kompetensi:
        raise Refusal(
            "V-06",
            "Pilih satu indikator kompetensi.",
            unknown=sorted(set(content.indikator_kompetensi) - catalog.indikator_kompetensi),
        )
    if not set(content.perilaku_fokus) <= catalog.perilaku:
        raise Refusal(
            "V-07",
            "Pilih minimal satu perilaku kerja BerAKHLAK.",
            unknown=sorted(set(content.perilaku_fokus) - catalog.perilaku),
        )
