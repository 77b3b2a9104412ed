"""Competency and main-duty reports (docs/domain.md §2.5, V-17), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kinerja_shared.refusal import Kind, Refusal
from observation.domain.reports import (
    Activity,
    CompetencyReport,
    DutyReport,
    ReportState,
    fill_competency,
    fill_duties,
    verify,
)

NIP = "198501012010011001"
KS = "197001011995011001"
NOW = datetime(2026, 4, 1, 3, 0, tzinfo=UTC)


def empty() -> CompetencyReport:
    return CompetencyReport(nip=NIP, period_id="2026")


def test_2025_report_needs_a_reflection_but_no_activity_minimum() -> None:
    with pytest.raises(Refusal) as exc:
        fill_competency(empty(), [Activity("Webinar")], "   ", rules_version=2025, now=NOW)
    assert (exc.value.code, exc.value.message, exc.value.kind) == (
        "V-17", "Tuliskan refleksi hasil belajar Anda.", Kind.INVALID,
    )  # fmt: skip
    report = fill_competency(empty(), [], "Belajar dari rekan sejawat.", rules_version=2025,
                             now=NOW)  # fmt: skip
    assert (report.state, report.revision, report.activities) == (ReportState.DIISI, 1, ())


def test_2025_refuses_bukti_because_uploads_are_disabled() -> None:
    with pytest.raises(Refusal) as exc:
        fill_competency(empty(), [Activity("Pelatihan", "sertifikat.pdf")], "Refleksi",
                        rules_version=2025, now=NOW)  # fmt: skip
    assert exc.value.code == "BUKTI_NOT_USED"


def test_2024_each_activity_needs_its_bukti() -> None:
    activities = [Activity("Pelatihan", "SERT-1"), Activity("KKG", " ")]
    with pytest.raises(Refusal) as exc:
        fill_competency(empty(), activities, "Refleksi", rules_version=2024, now=NOW)
    assert (exc.value.code, exc.value.detail["missing"]) == ("V-17B", [1])
    ok = fill_competency(empty(), activities[:1], "Refleksi", rules_version=2024, now=NOW)
    assert ok.activities == (Activity("Pelatihan", "SERT-1"),)


def test_blank_activity_text_is_refused() -> None:
    with pytest.raises(Refusal) as exc:
        fill_competency(empty(), [Activity("  ")], "Refleksi", rules_version=2025, now=NOW)
    assert exc.value.code == "ACTIVITY_TEXT_REQUIRED"


def test_same_content_again_changes_nothing() -> None:
    first = fill_competency(empty(), [Activity("KKG")], "Refleksi", rules_version=2025, now=NOW)
    again = fill_competency(first, [Activity(" KKG ")], "Refleksi ", rules_version=2025,
                            now=NOW + timedelta(hours=1))  # fmt: skip
    assert again is first


def test_update_of_a_verified_report_needs_verification_again() -> None:
    filled = fill_competency(empty(), [Activity("KKG")], "Refleksi", rules_version=2025, now=NOW)
    verified = verify(filled, by_nip=KS, now=NOW)
    assert (verified.state, verified.verified_by) == (ReportState.DIVERIFIKASI, KS)
    assert verify(verified, by_nip=KS, now=NOW) is verified
    updated = fill_competency(verified, [Activity("KKG"), Activity("Webinar")], "Refleksi",
                              rules_version=2025, now=NOW)  # fmt: skip
    assert (updated.state, updated.verified_by, updated.revision) == (ReportState.DIISI, None, 3)


def test_stale_expected_revision_is_v15() -> None:
    filled = fill_competency(empty(), [], "Refleksi", rules_version=2025, now=NOW)
    with pytest.raises(Refusal) as exc:
        fill_competency(filled, [], "Lain", rules_version=2025, now=NOW, expected_revision=0)
    assert exc.value.code == "V-15"


def test_empty_report_cannot_be_verified() -> None:
    with pytest.raises(Refusal) as exc:
        verify(DutyReport(nip=NIP, period_id="2026"), by_nip=KS, now=NOW)
    assert (exc.value.code, exc.value.kind) == ("INVALID_STATE", Kind.CONFLICT)


def test_duties_need_at_least_one_non_blank_tugas() -> None:
    report = DutyReport(nip=NIP, period_id="2026")
    for tugas in ([], ["Mengajar", " "]):
        with pytest.raises(Refusal) as exc:
            fill_duties(report, tugas, now=NOW)
        assert exc.value.code == "DUTY_REQUIRED"
    filled = fill_duties(report, ["Mengajar", "Menilai hasil belajar"], now=NOW)
    assert (filled.state, filled.tugas) == (
        ReportState.DIISI,
        ("Mengajar", "Menilai hasil belajar"),
    )


@given(st.lists(st.text(min_size=1).filter(str.strip), max_size=5), st.text().filter(str.strip))
def test_any_2025_report_with_a_reflection_is_accepted(texts: list[str], reflection: str) -> None:
    report = fill_competency(empty(), [Activity(t) for t in texts], reflection,
                             rules_version=2025, now=NOW)  # fmt: skip
    assert report.state is ReportState.DIISI
    assert [a.text for a in report.activities] == [t.strip() for t in texts]


tugas_lists = st.lists(st.sampled_from(["Mengajar", "Menilai", "Membimbing", " "]), max_size=3)


class DutyReportSequences(RuleBasedStateMachine):
    """Random fills and verifications: the state always follows the last effective command."""

    def __init__(self) -> None:
        super().__init__()
        self.report = DutyReport(nip=NIP, period_id="2026")
        self.accepted: tuple[str, ...] | None = None
        self.verified_since_fill = False
        self.last_revision = 0

    @rule(tugas=tugas_lists)
    def fill(self, tugas: list[str]) -> None:
        if not tugas or any(not t.strip() for t in tugas):
            with pytest.raises(Refusal, match=r"^DUTY_REQUIRED:"):
                fill_duties(self.report, tugas, now=NOW)
            return
        new = fill_duties(self.report, tugas, now=NOW)
        if new is not self.report:
            self.verified_since_fill = False
        self.report, self.accepted = new, tuple(t.strip() for t in tugas)

    @rule()
    def verify(self) -> None:
        if self.accepted is None:
            with pytest.raises(Refusal, match=r"^INVALID_STATE:"):
                verify(self.report, by_nip=KS, now=NOW)
            return
        self.report = verify(self.report, by_nip=KS, now=NOW)
        self.verified_since_fill = True

    @invariant()
    def state_follows_the_commands(self) -> None:
        if self.accepted is None:
            assert self.report.state is ReportState.KOSONG
        elif self.verified_since_fill:
            assert self.report.state is ReportState.DIVERIFIKASI
            assert self.report.verified_by == KS
        else:
            assert self.report.state is ReportState.DIISI
            assert self.report.verified_by is None
        if self.accepted is not None:
            assert self.report.tugas == self.accepted

    @invariant()
    def revision_never_goes_back(self) -> None:
        assert self.report.revision >= self.last_revision
        self.last_revision = self.report.revision


TestDutyReportSequences = DutyReportSequences.TestCase
