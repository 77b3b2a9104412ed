from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kinerja_shared.events.planning import (
    ApprovedBy,
    PlanAgreed,
    PlanApproved,
    PlanReturned,
    PlanRevised,
    PlanSubmitted,
)
from kinerja_shared.refusal import Kind, Refusal
from planning.domain.catalog import Catalog
from planning.domain.plan import (
    NO_ATASAN_MESSAGE,
    Atasan,
    Plan,
    PlanContent,
    PlanState,
    TugasTambahan,
    new_plan,
)

NOW = datetime(2025, 1, 10, 3, 0, tzinfo=UTC)
GURU = "198501012010011001"
KS = "197001011995031002"
VALID = PlanContent(
    sub_indikator=("D1.4",),
    indikator_kompetensi=("KP.3",),
    tugas_pokok=("Mengajar Matematika kelas VIII",),
    perilaku_fokus=("KOLABORATIF", "ADAPTIF"),
)


def draft(catalog: Catalog, content: PlanContent = VALID, rules_version: int = 2025) -> Plan:
    return new_plan(
        plan_id="p1",
        nip=GURU,
        npsn="20100001",
        period_id="2025",
        rules_version=rules_version,
        content=content,
        catalog=catalog,
    )


def submitted(catalog: Catalog) -> Plan:
    return draft(catalog).submit(Atasan(KS), catalog, NOW).plan


def code_of(call: object) -> str:
    assert isinstance(call, Refusal)
    return call.code


def test_submit_sends_the_plan_to_the_atasan(catalog: Catalog) -> None:
    t = draft(catalog).submit(Atasan(KS), catalog, NOW)
    assert t.plan.state is PlanState.DIAJUKAN
    assert t.plan.atasan_nip == KS
    assert t.plan.version == 2
    assert [type(e) for e in t.events] == [PlanSubmitted]


def test_submit_without_atasan_is_v03_with_the_exact_message_and_a_remedy(
    catalog: Catalog,
) -> None:
    with pytest.raises(Refusal) as caught:
        draft(catalog).submit(Atasan(None), catalog, NOW)
    assert caught.value.code == "V-03"
    assert caught.value.message == NO_ATASAN_MESSAGE == "Data atasan Anda tidak ditemukan"
    assert "Operator Sekolah" in caught.value.detail["remedy"]
    assert "Admin Dapodik Dinas" in caught.value.detail["remedy"]


def test_plt_atasan_approves_automatically_on_submit(catalog: Catalog) -> None:
    t = draft(catalog).submit(Atasan(KS, plt=True), catalog, NOW)
    assert t.plan.state is PlanState.DISETUJUI
    assert t.plan.approved_by is ApprovedBy.SYSTEM_PLT
    assert [type(e) for e in t.events] == [PlanSubmitted, PlanApproved]
    approved = t.events[1]
    assert isinstance(approved, PlanApproved)
    assert approved.approved_by is ApprovedBy.SYSTEM_PLT


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (PlanContent(indikator_kompetensi=("KP.3",), perilaku_fokus=("LOYAL",)), "V-05"),
        (
            PlanContent(
                sub_indikator=("D1.1", "D1.2"),
                indikator_kompetensi=("KP.3",),
                perilaku_fokus=("LOYAL",),
            ),
            "V-05",
        ),
        (PlanContent(sub_indikator=("D1.1",), perilaku_fokus=("LOYAL",)), "V-06"),
        (
            PlanContent(
                sub_indikator=("D1.1",),
                indikator_kompetensi=("KP.1", "KP.2"),
                perilaku_fokus=("LOYAL",),
            ),
            "V-06",
        ),
        (PlanContent(sub_indikator=("D1.1",), indikator_kompetensi=("KP.1",)), "V-07"),
        (
            PlanContent(
                sub_indikator=("D1.1",),
                indikator_kompetensi=("KP.1",),
                perilaku_fokus=("LOYAL",),
                tugas_tambahan=(TugasTambahan("Wali kelas"),),
            ),
            "V-08",
        ),
    ],
)
def test_incomplete_content_cannot_be_submitted(
    catalog: Catalog, content: PlanContent, code: str
) -> None:
    plan = draft(catalog, content)
    with pytest.raises(Refusal) as caught:
        plan.submit(Atasan(KS), catalog, NOW)
    assert caught.value.code == code
    assert caught.value.detail["violations"][0]["code"] == code


def test_2024_rules_need_the_surat_tugas_for_tugas_tambahan(catalog: Catalog) -> None:
    content = PlanContent(
        sub_indikator=("D1.1",),
        indikator_kompetensi=("KP.1",),
        perilaku_fokus=("LOYAL",),
        tugas_tambahan=(TugasTambahan("Wali kelas", "Wali kelas VII-A"),),
    )
    with pytest.raises(Refusal) as caught:
        draft(catalog, content, rules_version=2024).submit(Atasan(KS), catalog, NOW)
    assert caught.value.message == "Unggah Surat Tugas atau Keputusan."


def test_a_draft_cannot_name_a_sub_indicator_outside_the_catalog(catalog: Catalog) -> None:
    with pytest.raises(Refusal) as caught:
        draft(catalog, PlanContent(sub_indikator=("D9.9",)))
    assert caught.value.code == "V-05"


def test_return_needs_a_note_of_twenty_characters(catalog: Catalog) -> None:
    with pytest.raises(Refusal) as caught:
        submitted(catalog).return_for_revision(KS, "  kurang jelas  ")
    assert (caught.value.code, caught.value.message) == ("V-11", "Tuliskan catatan perbaikan.")


def test_returned_plan_is_edited_and_resubmitted(catalog: Catalog) -> None:
    note = "Tugas pokok belum menyebut kelas yang diampu."
    returned = submitted(catalog).return_for_revision(KS, note)
    assert returned.plan.state is PlanState.DIKEMBALIKAN
    assert [type(e) for e in returned.events] == [PlanReturned]
    edited = returned.plan.edit(VALID, catalog).plan
    assert (edited.state, edited.return_note) == (PlanState.DRAF, note)
    again = edited.submit(Atasan(KS), catalog, NOW)
    assert (again.plan.state, again.plan.return_note) == (PlanState.DIAJUKAN, None)


def test_a_returned_plan_is_edited_before_it_is_resubmitted(catalog: Catalog) -> None:
    returned = submitted(catalog).return_for_revision(KS, "Tugas pokok belum lengkap ya.").plan
    with pytest.raises(Refusal) as caught:
        returned.submit(Atasan(KS), catalog, NOW)
    assert (caught.value.code, caught.value.kind) == ("PLAN_STATE_CONFLICT", Kind.CONFLICT)


REASON = "Mendapat tugas tambahan baru sebagai pembina OSIS."
REVISED = PlanContent(
    sub_indikator=("D1.2",),
    indikator_kompetensi=("KP.3",),
    tugas_pokok=("Mengajar Matematika kelas IX",),
    perilaku_fokus=("HARMONIS",),
)


def agreed(catalog: Catalog) -> Plan:
    return submitted(catalog).approve(KS, NOW).plan.agree(GURU, NOW).plan


def test_an_agreed_plan_is_reopened_as_the_next_revision(catalog: Catalog) -> None:
    before = agreed(catalog)
    t = before.revise(f"  {REASON}  ")
    assert (t.plan.state, t.plan.revision, t.plan.revision_reason) == (
        PlanState.DIREVISI,
        2,
        REASON,
    )
    assert t.plan.version == before.version + 1
    assert (t.plan.approved_by, t.plan.agreed_at) == (None, None)
    (event,) = t.events
    assert isinstance(event, PlanRevised)
    assert (event.version, event.reason) == (t.plan.version, REASON)


def test_a_revision_is_edited_then_approved_and_agreed_again(catalog: Catalog) -> None:
    first = agreed(catalog)
    revising = first.revise(REASON).plan.edit(REVISED, catalog).plan
    assert revising.state is PlanState.DIREVISI
    approved = revising.submit(Atasan(KS), catalog, NOW).plan.approve(KS, NOW)
    (ok,) = approved.events
    assert isinstance(ok, PlanApproved)
    t = approved.plan.agree(GURU, NOW)
    (skp,) = t.events
    assert isinstance(skp, PlanAgreed)
    assert (t.plan.revision, skp.sub_indikator) == (2, "D1.2")
    assert skp.version > first.version


def test_a_revision_with_a_plt_atasan_is_approved_at_once(catalog: Catalog) -> None:
    t = agreed(catalog).revise(REASON).plan.submit(Atasan(KS, plt=True), catalog, NOW)
    assert t.plan.state is PlanState.DISETUJUI
    assert t.plan.approved_by is ApprovedBy.SYSTEM_PLT


def test_a_revision_needs_a_reason(catalog: Catalog) -> None:
    with pytest.raises(Refusal) as caught:
        agreed(catalog).revise("ganti")
    assert (caught.value.code, caught.value.kind) == ("PLAN_REVISION_REASON", Kind.INVALID)


@pytest.mark.parametrize("state", ["draft", "submitted", "approved"])
def test_only_an_agreed_plan_can_be_revised(catalog: Catalog, state: str) -> None:
    plan = {
        "draft": lambda: draft(catalog),
        "submitted": lambda: submitted(catalog),
        "approved": lambda: submitted(catalog).approve(KS, NOW).plan,
    }[state]()
    with pytest.raises(Refusal) as caught:
        plan.revise(REASON)
    assert (caught.value.code, caught.value.kind) == ("PLAN_STATE_CONFLICT", Kind.CONFLICT)


def test_only_the_atasan_on_the_plan_may_approve(catalog: Catalog) -> None:
    with pytest.raises(Refusal) as caught:
        submitted(catalog).approve("196001011990031003", NOW)
    assert (caught.value.code, caught.value.kind) == ("V-10", Kind.FORBIDDEN)


def test_agree_after_approval_emits_the_skp(catalog: Catalog) -> None:
    approved = submitted(catalog).approve(KS, NOW).plan
    t = approved.agree(GURU, NOW)
    assert t.plan.state is PlanState.DISEPAKATI
    (skp,) = t.events
    assert isinstance(skp, PlanAgreed)
    assert skp.sub_indikator == "D1.4"
    assert skp.indikator_kompetensi == "KP.3"
    assert skp.perilaku_fokus == ["KOLABORATIF", "ADAPTIF"]
    assert skp.version == t.plan.version == 4


def test_agree_before_approval_is_a_state_conflict(catalog: Catalog) -> None:
    with pytest.raises(Refusal) as caught:
        submitted(catalog).agree(GURU, NOW)
    assert (caught.value.code, caught.value.kind) == ("PLAN_STATE_CONFLICT", Kind.CONFLICT)


def test_withdraw_takes_a_submitted_plan_back_to_draft(catalog: Catalog) -> None:
    t = submitted(catalog).withdraw(GURU)
    assert t.plan.state is PlanState.DRAF
    with pytest.raises(Refusal):
        t.plan.withdraw(GURU)


def test_roster_change_moves_a_pending_plan_to_the_new_atasan(catalog: Catalog) -> None:
    new_ks = "197501012000031004"
    t = submitted(catalog).reassign_atasan(Atasan(new_ks), NOW)
    assert t.plan.atasan_nip == new_ks
    assert t.events == ()


def test_roster_change_to_a_plt_approves_the_pending_plan(catalog: Catalog) -> None:
    t = submitted(catalog).reassign_atasan(Atasan("197501012000031004", plt=True), NOW)
    assert t.plan.state is PlanState.DISETUJUI
    assert t.plan.approved_by is ApprovedBy.SYSTEM_PLT


def test_roster_change_leaves_plans_that_are_not_pending_alone(catalog: Catalog) -> None:
    plan = draft(catalog)
    assert plan.reassign_atasan(Atasan("197501012000031004"), NOW).plan is plan
