"""Cancellation (DIBATALKAN), the follow-up of a teacher who left, and the V-28 stage window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kinerja_shared.periods import PeriodCalendar, Stage, load_calendar
from kinerja_shared.refusal import Kind, Refusal
from observation.domain.calendar import check_pelaksanaan_open
from observation.domain.followup import (
    Followup,
    FollowupState,
    log_action,
    review,
    submit_reflection,
)
from observation.domain.followup import cancel as cancel_followup
from observation.domain.observation import (
    AgreedPlan,
    Observation,
    ScheduleKind,
    State,
    cancel,
    conduct,
    on_plan_agreed,
    reschedule,
    schedule,
)
from observation.rules import packaged_rubrics

CALENDAR = load_calendar()
RUBRICS = packaged_rubrics()

NIP = "198501012010011001"
KS = "197001011995011001"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
AT = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def scheduled() -> Observation:
    opened = on_plan_agreed(
        None,
        AgreedPlan("P", 1, NIP, "20100001", "2026", "D1.1", KS),
        calendar=CALENDAR,
        rubrics=RUBRICS,
    )
    assert opened is not None
    obs, _ = schedule(opened, AT, observer_nip=KS, by_nip=NIP, now=NOW, calendar=CALENDAR)
    return obs


def test_cancel_frees_the_date_and_is_audited() -> None:
    obs, change = cancel(scheduled(), "  Guru mutasi keluar ", by_nip=KS, now=NOW)
    assert (obs.state, obs.scheduled_at, obs.revision) == (State.DIBATALKAN, None, 2)
    assert change is not None
    assert (change.kind, change.scheduled_at, change.previous_at, change.reason) == (
        ScheduleKind.DIBATALKAN, None, AT, "Guru mutasi keluar",
    )  # fmt: skip


def test_cancel_again_changes_nothing() -> None:
    obs, _ = cancel(scheduled(), "Guru mutasi keluar", by_nip=KS, now=NOW)
    assert cancel(obs, "alasan lain lagi", by_nip=KS, now=NOW) == (obs, None)


def test_cancel_needs_a_reason_and_the_current_revision() -> None:
    with pytest.raises(Refusal, match=r"^CANCEL_REASON_REQUIRED:"):
        cancel(scheduled(), "  ", by_nip=KS, now=NOW)
    with pytest.raises(Refusal, match=r"^V-15:"):
        cancel(scheduled(), "Guru mutasi keluar", by_nip=KS, now=NOW, expected_revision=0)


def test_conducted_observation_cannot_be_cancelled() -> None:
    rubric = RUBRICS.get("D1.1")
    assert rubric is not None
    done = conduct(
        scheduled(), dict.fromkeys(rubric.codes, 3), "", observer_nip=KS, now=AT, rubrics=RUBRICS
    )
    with pytest.raises(Refusal, match=r"^INVALID_STATE:"):
        cancel(done, "Guru mutasi keluar", by_nip=KS, now=AT)


def test_cancelled_observation_can_be_scheduled_again_but_not_rescheduled() -> None:
    obs, _ = cancel(scheduled(), "Salah input", by_nip=KS, now=NOW)
    with pytest.raises(Refusal, match=r"^INVALID_STATE:"):
        reschedule(obs, AT, "alasan jadwal", observer_nip=KS, by_nip=NIP, now=NOW,
                   expected_revision=obs.revision, calendar=CALENDAR)  # fmt: skip
    again, change = schedule(obs, AT, observer_nip=KS, by_nip=NIP, now=NOW, calendar=CALENDAR)
    assert (again.state, again.scheduled_at, again.revision) == (State.DIJADWALKAN, AT, 3)
    assert change is not None
    assert change.kind is ScheduleKind.DIJADWALKAN


def test_open_followup_is_cancelled_and_keeps_its_actions() -> None:
    f = log_action(Followup(NIP, "2026"), "Kesepakatan kelas", now=NOW)
    cancelled = cancel_followup(f)
    assert (cancelled.state, cancelled.actions) == (FollowupState.DIBATALKAN, f.actions)
    assert cancel_followup(cancelled) is cancelled
    with pytest.raises(Refusal, match=r"^INVALID_STATE:"):
        submit_reflection(cancelled, "Refleksi", now=NOW)


def test_reviewed_followup_stays_reviewed() -> None:
    f = submit_reflection(log_action(Followup(NIP, "2026"), "A", now=NOW), "R", now=NOW)
    done = review(f, None, by_nip=KS, now=NOW)
    assert cancel_followup(done) is done


def test_pelaksanaan_closes_sixty_days_after_the_period_by_default() -> None:
    raw = {"periods": [{"period_id": "X", "start": "2026-01-01", "end": "2026-12-31",
                        "rules_version": 2025}]}  # fmt: skip
    period = PeriodCalendar.from_config(raw).period("X")
    assert period is not None
    assert period.pelaksanaan.hard_end == date(2027, 3, 1)
    # WIB calendar days: 1 March 23:30 WIB is still open, 2 March 00:30 WIB is closed.
    assert not period.has_closed(Stage.PELAKSANAAN, datetime(2027, 3, 1, 16, 30, tzinfo=UTC))
    assert period.has_closed(Stage.PELAKSANAAN, datetime(2027, 3, 1, 17, 30, tzinfo=UTC))


def test_hard_end_can_be_extended_per_period() -> None:
    raw = {"periods": [{"period_id": "X", "start": "2024-01-01", "end": "2024-06-30",
                        "rules_version": 2024,
                        "stage_windows": {"pelaksanaan": {"hard_end": "2024-12-31"}}}]}  # fmt: skip
    period = PeriodCalendar.from_config(raw).period("X")
    assert period is not None
    assert period.pelaksanaan.hard_end == date(2024, 12, 31)


def test_writes_after_hard_end_are_v28() -> None:
    period = CALENDAR.period("2026")
    assert period is not None
    check_pelaksanaan_open(CALENDAR, "2026", datetime(2027, 1, 15, tzinfo=UTC))
    with pytest.raises(Refusal) as exc:
        check_pelaksanaan_open(CALENDAR, "2026", datetime(2027, 3, 2, 3, tzinfo=UTC))
    assert (exc.value.code, exc.value.message, exc.value.kind) == (
        "V-28", "Tahap ini sudah ditutup untuk periode tersebut.", Kind.INVALID,
    )  # fmt: skip


def test_shipped_periods_know_their_rules() -> None:
    ids = ("2024-S1", "2024-S2", "2025", "2026", "2027")
    versions = {p: CALENDAR.period(p).rules_version for p in ids}  # type: ignore[union-attr]
    assert versions == {"2024-S1": 2024, "2024-S2": 2024, "2025": 2025, "2026": 2025, "2027": 2025}
    period = CALENDAR.period("2024-S1")
    assert period is not None
    assert period.pelaksanaan.hard_end == period.end + timedelta(days=60)
