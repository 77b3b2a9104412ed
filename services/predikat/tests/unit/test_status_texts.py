"""What a principal reads about a delivery: never "coba lagi" with no cause, always the next step
and who takes it, and each reason in words of its own (docs/domain.md §2.9)."""

from datetime import UTC, datetime

import pytest

from kinerja_shared.events.bkn_sync import DeliveryState
from predikat.domain.delivery import DeliveryView, apply_status, view_of
from predikat.domain.status_texts import Pihak, message

CHECK = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
# Every reason code bkn-sync sends (its domain/classify.py and README), plus none and one it may
# add later: a principal reads something useful for each.
REASONS = [
    None,
    *(f"BKN-T0{n}" for n in (1, 2, 3)),
    *(f"BKN-E{n:02d}" for n in range(1, 14)),
    "BKN-E99",
]
PARKED_REASONS = [f"BKN-E{n:02d}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13)]


def _every_told() -> list[tuple[str, DeliveryState | None, str | None, datetime | None]]:
    cases = []
    for state in DeliveryState:
        view = view_of(state)
        for code in REASONS:
            for at in (None, CHECK):
                cases.append((view.value if view else "belum_dikirim", state, code, at))
    return cases


@pytest.mark.parametrize(("view", "state", "code", "at"), _every_told())
def test_no_state_or_reason_says_coba_lagi_and_each_names_a_next_step(
    view: str, state: DeliveryState | None, code: str | None, at: datetime | None
) -> None:
    said = message(view, state=state, reason_code=code, next_attempt_at=at)
    assert "coba lagi" not in said.text.lower()
    assert "gagal kirim" not in said.text.lower()
    assert said.next_step
    assert said.next_step in said.text
    assert isinstance(said.by, Pihak)


def test_each_parked_reason_has_its_own_words() -> None:
    texts = {
        code: message("tertahan", state=DeliveryState.PARKED, reason_code=code).text
        for code in PARKED_REASONS
    }
    assert len(set(texts.values())) == len(texts), texts


@pytest.mark.parametrize(
    ("code", "by"),
    [
        ("BKN-E01", Pihak.OPERATOR_SEKOLAH),
        ("BKN-E02", Pihak.OPERATOR_SEKOLAH),
        ("BKN-E03", Pihak.ADMIN_BKD),
        ("BKN-E04", Pihak.ADMIN_INSTANSI),
        ("BKN-E05", Pihak.KEPALA_SEKOLAH),
        ("BKN-E06", Pihak.DINAS),
        ("BKN-E07", Pihak.TIDAK_ADA),
        ("BKN-E08", Pihak.TIDAK_ADA),
        ("BKN-E09", Pihak.ADMIN_INSTANSI),
        ("BKN-E12", Pihak.TIM_KINERJA),
        ("BKN-E13", Pihak.TIM_KINERJA),
    ],
)
def test_each_parked_reason_names_who_acts(code: str, by: Pihak) -> None:
    assert message("tertahan", state=DeliveryState.PARKED, reason_code=code).by is by


def test_the_operator_sekolah_is_sent_to_dapodik_for_an_unknown_nip() -> None:
    said = message("tertahan", state=DeliveryState.PARKED, reason_code="BKN-E01")
    assert "Verval PTK" in said.next_step
    assert "Dapodik" in said.next_step
    assert "Guru" in said.next_step  # the teacher brings the SIASN NIP


def test_a_scheduled_check_is_named_with_its_time_in_wib() -> None:
    said = message(
        "tertahan", state=DeliveryState.PARKED, reason_code="BKN-E03", next_attempt_at=CHECK
    )
    assert "2026-01-05 15:30 WIB" in said.text


def test_after_the_last_scheduled_check_it_says_none_will_come() -> None:
    said = message("tertahan", state=DeliveryState.PARKED, reason_code="BKN-E03")
    assert "sudah selesai" in said.text
    assert "WIB" not in said.text


def test_dead_after_the_retries_reads_differently_from_parked_for_the_same_code() -> None:
    parked = message("tertahan", state=DeliveryState.PARKED, reason_code="BKN-E08")
    dead = message("tertahan", state=DeliveryState.DEAD, reason_code="BKN-E08")
    assert parked.text != dead.text
    assert parked.by is Pihak.TIDAK_ADA
    assert dead.by is Pihak.TIM_KINERJA


def test_retrying_names_the_time_and_that_nobody_acts() -> None:
    said = message("dicoba_ulang", reason_code="BKN-T02", next_attempt_at=CHECK)
    assert said.text.startswith("Sedang dikirim ulang otomatis pada 2026-01-05 15:30 WIB")
    assert said.by is Pihak.TIDAK_ADA


def test_a_parked_status_keeps_the_next_check_time() -> None:
    facts = apply_status(
        1,
        DeliveryView.MENUNGGU,
        version=1,
        state=DeliveryState.PARKED,
        next_attempt_at=CHECK,
        reason_code="BKN-E01",
    )
    assert facts is not None
    assert (facts.state, facts.next_attempt_at) == (DeliveryState.PARKED, CHECK)
