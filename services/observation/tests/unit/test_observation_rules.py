"""The observation state machine (docs/domain.md §2.3, §5 V-12..V-16), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kinerja_shared.periods import load_calendar
from kinerja_shared.refusal import Refusal
from observation.domain.observation import (
    AgreedPlan,
    Observation,
    ScheduleKind,
    State,
    conduct,
    give_feedback,
    on_plan_agreed,
    reschedule,
    schedule,
    slot_clashes,
)
from observation.domain.rubric import PracticeRating, practice_rating
from observation.rules import packaged_rubrics

CALENDAR = load_calendar()
RUBRICS = packaged_rubrics()

NIP = "198501012010011001"
KS = "197001011995011001"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
AT = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def plan(version: int = 1, sub: str = "D1.1", period: str = "2026") -> AgreedPlan:
    return AgreedPlan(f"PLAN-{version}", version, NIP, "20100001", period, sub, KS)


def opened() -> Observation:
    obs = on_plan_agreed(None, plan(), calendar=CALENDAR, rubrics=RUBRICS)
    assert obs is not None
    return obs


def scheduled(at: datetime = AT) -> Observation:
    obs, _ = schedule(opened(), at, observer_nip=KS, by_nip=NIP, now=NOW, calendar=CALENDAR)
    return obs


def all_scores(sub: str = "D1.1", score: int = 3) -> dict[str, int]:
    rubric = RUBRICS.get(sub)
    assert rubric is not None
    return dict.fromkeys(rubric.codes, score)


def refused(code: str) -> Any:
    return pytest.raises(Refusal, match=f"^{code}:")


def test_agreed_plan_opens_an_unscheduled_observation_observed_by_the_atasan() -> None:
    obs = opened()
    assert (obs.state, obs.sub_indikator, obs.observer_nip, obs.revision) == (
        State.BELUM_DIJADWALKAN, "D1.1", KS, 0,
    )  # fmt: skip


def test_redelivered_or_older_plan_changes_nothing() -> None:
    assert on_plan_agreed(opened(), plan(), calendar=CALENDAR, rubrics=RUBRICS) is None


def test_later_plan_version_moves_the_focus_until_conducted() -> None:
    moved = on_plan_agreed(
        scheduled(), plan(version=2, sub="D1.4"), calendar=CALENDAR, rubrics=RUBRICS
    )
    assert moved is not None
    assert (moved.sub_indikator, moved.state, moved.revision) == ("D1.4", State.DIJADWALKAN, 2)
    done = conduct(scheduled(), all_scores(), "", observer_nip=KS, now=AT, rubrics=RUBRICS)
    assert (
        on_plan_agreed(done, plan(version=2, sub="D1.4"), calendar=CALENDAR, rubrics=RUBRICS)
        is None
    )


@pytest.mark.parametrize(("sub", "period"), [("D9.9", "2026"), ("D1.1", "2031")])
def test_unknown_sub_indicator_or_period_is_refused(sub: str, period: str) -> None:
    with pytest.raises(Refusal):
        on_plan_agreed(None, plan(sub=sub, period=period), calendar=CALENDAR, rubrics=RUBRICS)


def test_scheduling_inside_the_period_records_the_first_history_line() -> None:
    obs, change = schedule(opened(), AT, observer_nip=KS, by_nip=NIP, now=NOW, calendar=CALENDAR)
    assert (obs.state, obs.scheduled_at, obs.revision) == (State.DIJADWALKAN, AT, 1)
    assert change is not None
    assert change.kind is ScheduleKind.DIJADWALKAN


@pytest.mark.parametrize(
    "at",
    [
        NOW - timedelta(minutes=1),  # in the past
        datetime(2027, 1, 5, 2, 0, tzinfo=UTC),  # after the period
        datetime(2026, 12, 31, 18, 0, tzinfo=UTC),  # 1 Jan 2027 01:00 WIB
    ],
)
def test_schedule_in_the_past_or_outside_the_period_is_v13(at: datetime) -> None:
    with refused("V-13"):
        schedule(opened(), at, observer_nip=KS, by_nip=NIP, now=NOW, calendar=CALENDAR)


def test_period_days_are_read_in_wib() -> None:
    period = CALENDAR.period("2026")
    assert period is not None
    assert period.contains(datetime(2025, 12, 31, 17, 30, tzinfo=UTC))  # 00:30 WIB 1 Jan


def test_observer_slot_already_held_is_refused() -> None:
    with refused("SLOT_TAKEN"):
        schedule(
            opened(), AT, observer_nip=KS, by_nip=NIP, now=NOW,
            busy=[AT + timedelta(minutes=59)], calendar=CALENDAR,
        )  # fmt: skip


def test_slots_one_hour_apart_do_not_clash() -> None:
    assert not slot_clashes(AT, [AT + timedelta(hours=1), AT - timedelta(hours=1)])
    assert slot_clashes(AT, [AT - timedelta(minutes=30)])


def test_stale_expected_revision_is_v15() -> None:
    with refused("V-15"):
        schedule(
            opened(),
            AT,
            observer_nip=KS,
            by_nip=NIP,
            now=NOW,
            expected_revision=7,
            calendar=CALENDAR,
        )


def test_same_schedule_again_is_a_no_op_but_another_date_needs_a_reschedule() -> None:
    obs = scheduled()
    again, change = schedule(obs, AT, observer_nip=KS, by_nip=NIP, now=NOW, calendar=CALENDAR)
    assert again is obs
    assert change is None
    with refused("ALREADY_SCHEDULED"):
        schedule(
            obs, AT + timedelta(days=1), observer_nip=KS, by_nip=NIP, now=NOW, calendar=CALENDAR
        )


def test_reschedule_keeps_the_previous_date_and_reason() -> None:
    obs = scheduled()
    later = AT + timedelta(days=2)
    moved, change = reschedule(
        obs,
        later,
        "KS dinas luar",
        observer_nip=KS,
        by_nip=NIP,
        now=NOW,
        expected_revision=1,
        calendar=CALENDAR,
    )
    assert (moved.scheduled_at, moved.revision, moved.state) == (later, 2, State.DIJADWALKAN)
    assert change is not None
    assert (change.kind, change.previous_at, change.reason) == (
        ScheduleKind.DIJADWALKAN_ULANG, AT, "KS dinas luar",
    )  # fmt: skip


def test_reschedule_needs_a_reason() -> None:
    with refused("RESCHEDULE_REASON_REQUIRED"):
        reschedule(scheduled(), AT + timedelta(days=1), "  ", observer_nip=KS, by_nip=NIP,
                   now=NOW, expected_revision=1, calendar=CALENDAR)  # fmt: skip


def test_reschedule_with_stale_revision_is_v15_and_a_retry_of_a_done_move_is_a_no_op() -> None:
    obs = scheduled()
    with refused("V-15"):
        reschedule(obs, AT + timedelta(days=1), "bentrok rapat", observer_nip=KS, by_nip=NIP,
                   now=NOW, expected_revision=0, calendar=CALENDAR)  # fmt: skip
    same, change = reschedule(obs, AT, "bentrok rapat", observer_nip=KS, by_nip=NIP, now=NOW,
                              expected_revision=0, calendar=CALENDAR)  # fmt: skip
    assert same is obs
    assert change is None


def test_reschedule_after_conduct_is_v14() -> None:
    done = conduct(scheduled(), all_scores(), "baik", observer_nip=KS, now=AT, rubrics=RUBRICS)
    with refused("V-14"):
        reschedule(done, AT + timedelta(days=1), "ulang lagi", observer_nip=KS, by_nip=NIP,
                   now=AT, expected_revision=done.revision, calendar=CALENDAR)  # fmt: skip


def test_conduct_scores_every_item_and_derives_the_practice_rating() -> None:
    done = conduct(
        scheduled(), all_scores(score=4), "sangat baik", observer_nip=KS, now=AT, rubrics=RUBRICS
    )
    assert done.state is State.DILAKSANAKAN
    assert done.practice_rating == PracticeRating.DI_ATAS_EKSPEKTASI
    assert done.conducted_at == AT


def test_conduct_with_a_missing_or_out_of_range_item_is_v16() -> None:
    scores = all_scores()
    first = next(iter(scores))
    with refused("V-16"):
        conduct(scheduled(), {k: v for k, v in scores.items() if k != first}, "",
                observer_nip=KS, now=AT, rubrics=RUBRICS)  # fmt: skip
    with refused("V-16"):
        conduct(scheduled(), {**scores, first: 5}, "", observer_nip=KS, now=AT, rubrics=RUBRICS)


def test_conduct_before_the_scheduled_day_or_before_scheduling_is_refused() -> None:
    with refused("OBSERVATION_NOT_DUE"):
        conduct(scheduled(), all_scores(), "", observer_nip=KS, now=NOW, rubrics=RUBRICS)
    with refused("INVALID_STATE"):
        conduct(opened(), all_scores(), "", observer_nip=KS, now=AT, rubrics=RUBRICS)


@pytest.mark.parametrize(
    ("scores", "rating"),
    [
        ([4, 4, 3, 3], PracticeRating.DI_ATAS_EKSPEKTASI),
        ([3, 3, 3, 4], PracticeRating.SESUAI_EKSPEKTASI),
        ([3, 2, 3, 2], PracticeRating.SESUAI_EKSPEKTASI),
        ([2, 2, 3, 2], PracticeRating.DI_BAWAH_EKSPEKTASI),
    ],
)
def test_practice_rating_thresholds_on_the_mean(scores: list[int], rating: PracticeRating) -> None:
    assert practice_rating({str(i): s for i, s in enumerate(scores)}) is rating


def test_feedback_after_conduct_completes_the_observation() -> None:
    done = conduct(scheduled(), all_scores(), "", observer_nip=KS, now=AT, rubrics=RUBRICS)
    fed = give_feedback(done, "Perjelas tujuan di awal.", now=AT)
    assert fed.state is State.UMPAN_BALIK_DIBERIKAN
    assert give_feedback(fed, "Perjelas tujuan di awal.", now=AT) is fed
    with refused("INVALID_STATE"):
        give_feedback(scheduled(), "terlalu dini", now=AT)


def test_every_sub_indicator_has_a_rubric() -> None:
    for n in range(1, 9):
        rubric = RUBRICS.get(f"D1.{n}")
        assert rubric is not None
        assert len(rubric.items) >= 3
