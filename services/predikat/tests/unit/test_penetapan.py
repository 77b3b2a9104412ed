import pytest

from kinerja_shared.refusal import Kind, Refusal
from predikat.domain.curve import OrgPredikat, TeacherPredikat
from predikat.domain.penetapan import (
    PredikatState,
    check_correction,
    check_tetapkan,
    choose_predikat,
    may_edit,
    may_revise_org,
)

SB, B, BP = TeacherPredikat.SANGAT_BAIK, TeacherPredikat.BAIK, TeacherPredikat.BUTUH_PERBAIKAN
REASON = "Dua guru berprestasi nasional tahun ini."


def test_keeping_the_recommendation_needs_no_reason() -> None:
    assert choose_predikat(B, None, None) == (B, None)
    assert choose_predikat(B, B, None) == (B, None)


def test_overriding_the_recommendation_without_reason_is_refused() -> None:
    with pytest.raises(Refusal) as err:
        choose_predikat(B, SB, "  ")
    assert err.value.code == "OVERRIDE_REASON_REQUIRED"


def test_overriding_with_a_reason_keeps_it() -> None:
    assert choose_predikat(B, SB, " juara OSN ") == (SB, "juara OSN")


def test_a_sent_predikat_is_changed_only_by_correction() -> None:
    may_edit(PredikatState.DITETAPKAN, 0)
    with pytest.raises(Refusal) as err:
        may_edit(PredikatState.DITETAPKAN, 1)
    assert err.value.kind is Kind.CONFLICT


def test_org_revision_after_sending_is_v22() -> None:
    may_revise_org(False)
    with pytest.raises(Refusal) as err:
        may_revise_org(True)
    assert (err.value.code, err.value.kind) == ("V-22", Kind.CONFLICT)


def test_tetapkan_without_org_predikat_is_v19() -> None:
    with pytest.raises(Refusal) as err:
        check_tetapkan(None, {B: 3}, None, strict=False)
    assert err.value.code == "V-19"
    assert err.value.message == (
        "Predikat Kinerja Organisasi untuk satuan pendidikan Anda belum ditetapkan oleh Dinas "
        "Pendidikan."
    )


def test_curve_violation_is_v21_with_the_limits() -> None:
    with pytest.raises(Refusal) as err:
        check_tetapkan(OrgPredikat.BAIK, {SB: 2, B: 5}, None, strict=False)
    assert err.value.code == "V-21"
    assert err.value.message == (
        "Sebaran predikat tidak sesuai dengan Predikat Kinerja Organisasi (Baik): "
        "Baik 5 melebihi batas 4; wajib ada minimal 1 Butuh Perbaikan atau Kurang. "
        "Untuk tetap menetapkan, tuliskan alasan (distribution_reason) minimal 20 karakter."
    )
    assert [lim["value"] for lim in err.value.detail["limits"]] == [4, 1]  # type: ignore[union-attr]


def test_a_written_reason_passes_the_curve_warning() -> None:
    outcome = check_tetapkan(OrgPredikat.BAIK, {SB: 2, B: 5}, REASON, strict=False)
    assert outcome.reason == REASON
    assert len(outcome.violations) == 2


def test_a_short_reason_does_not_pass_and_the_refusal_says_the_minimum() -> None:
    with pytest.raises(Refusal) as err:
        check_tetapkan(OrgPredikat.BAIK, {SB: 2, B: 5}, "karena", strict=False)
    assert err.value.message.endswith(
        "Alasan yang ditulis baru 6 karakter; tuliskan minimal 20 karakter untuk tetap menetapkan."
    )
    assert (err.value.detail["reason_length"], err.value.detail["reason_min_length"]) == (6, 20)


def test_a_strict_dinas_blocks_even_with_a_reason() -> None:
    with pytest.raises(Refusal) as err:
        check_tetapkan(OrgPredikat.BAIK, {SB: 2, B: 5}, REASON, strict=True)
    assert err.value.detail["strict"] is True
    assert "aturan wajib" in err.value.message


def test_a_fitting_school_passes_without_reason() -> None:
    outcome = check_tetapkan(OrgPredikat.BAIK, {SB: 2, B: 4, BP: 1}, None, strict=False)
    assert outcome.violations == []
    assert outcome.reason is None


def test_correction_needs_a_change_and_a_reason() -> None:
    with pytest.raises(Refusal) as same:
        check_correction(B, B, REASON)
    assert same.value.kind is Kind.CONFLICT
    with pytest.raises(Refusal) as short:
        check_correction(B, SB, "salah")
    assert short.value.code == "KOREKSI_REASON_REQUIRED"
    assert check_correction(B, SB, REASON) == REASON
