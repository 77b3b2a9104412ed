"""Random command sequences against several teachers sharing one observer (hypothesis).

Invariants: the observer never holds two live schedules within one hour; a teacher's history
grows by exactly one line per effective schedule/reschedule; nothing reschedules an observation
once it is DILAKSANAKAN; a cancelled observation holds no slot and can be scheduled again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kinerja_shared.periods import load_calendar
from kinerja_shared.refusal import Refusal
from observation.domain.observation import (
    DONE,
    AgreedPlan,
    Observation,
    ScheduleChange,
    State,
    cancel,
    conduct,
    on_plan_agreed,
    reschedule,
    schedule,
    slot_clashes,
)
from observation.rules import packaged_rubrics

CALENDAR = load_calendar()
RUBRICS = packaged_rubrics()

KS = "197001011995011001"
TEACHERS = tuple(f"19850101201001100{i}" for i in range(3))
START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)

teacher = st.sampled_from(TEACHERS)
# Half-hour steps over ~3 days, so clashes are frequent.
when = st.integers(min_value=0, max_value=150).map(lambda n: START + timedelta(minutes=30 * n))
revision_skew = st.sampled_from([0, 0, 0, -1, 1])


class ObservationSequences(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.obs: dict[str, Observation] = {}
        self.history: dict[str, list[ScheduleChange]] = {}
        for nip in TEACHERS:
            opened = on_plan_agreed(
                None,
                AgreedPlan("P", 1, nip, "20100001", "2026", "D1.2", KS),
                calendar=CALENDAR,
                rubrics=RUBRICS,
            )
            assert opened is not None
            self.obs[nip] = opened
            self.history[nip] = []

    def _busy(self, nip: str) -> list[datetime]:
        return [
            o.scheduled_at
            for n, o in self.obs.items()
            if n != nip and o.state is State.DIJADWALKAN and o.scheduled_at is not None
        ]

    def _apply(self, nip: str, result: tuple[Observation, ScheduleChange | None]) -> None:
        new, change = result
        if change is not None:
            self.history[nip].append(change)
        self.obs[nip] = new

    @rule(nip=teacher, at=when)
    def schedule(self, nip: str, at: datetime) -> None:
        try:
            result = schedule(
                self.obs[nip],
                at,
                observer_nip=KS,
                by_nip=nip,
                now=self.now,
                busy=self._busy(nip),
                calendar=CALENDAR,
            )
        except Refusal:
            return
        self._apply(nip, result)

    @rule(nip=teacher, at=when, skew=revision_skew)
    def reschedule(self, nip: str, at: datetime, skew: int) -> None:
        before = self.obs[nip]
        lines = len(self.history[nip])
        refused_with: str | None = None
        try:
            result = reschedule(
                before, at, "alasan jadwal ulang", observer_nip=KS, by_nip=nip, now=self.now,
                expected_revision=before.revision + skew, busy=self._busy(nip), calendar=CALENDAR,
            )  # fmt: skip
        except Refusal as exc:
            refused_with = exc.code
        if before.state in DONE:
            assert refused_with == "V-14"
        if refused_with is not None:
            return
        self._apply(nip, result)
        moved = result[0].scheduled_at != before.scheduled_at
        assert len(self.history[nip]) == lines + (1 if moved else 0)

    @rule(nip=teacher)
    def cancel(self, nip: str) -> None:
        before = self.obs[nip]
        if before.state in DONE:
            with pytest.raises(Refusal, match=r"^INVALID_STATE:"):
                cancel(before, "mutasi keluar", by_nip=KS, now=self.now)
            return
        result = cancel(before, "mutasi keluar", by_nip=KS, now=self.now)
        self._apply(nip, result)
        assert (result[0].state, result[0].scheduled_at) == (State.DIBATALKAN, None)

    @rule(nip=teacher)
    def conduct(self, nip: str) -> None:
        rubric = RUBRICS.get("D1.2")
        assert rubric is not None
        try:
            new = conduct(
                self.obs[nip],
                dict.fromkeys(rubric.codes, 3),
                "",
                observer_nip=KS,
                now=self.now,
                rubrics=RUBRICS,
            )
        except Refusal:
            return
        self.obs[nip] = new

    @rule(hours=st.integers(min_value=1, max_value=30))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @precondition(lambda self: any(o.state in DONE for o in self.obs.values()))
    @rule()
    def conducted_never_reschedules(self) -> None:
        for o in self.obs.values():
            if o.state in DONE:
                with pytest.raises(Refusal, match=r"^V-14:"):
                    reschedule(o, START, "apa saja", observer_nip=KS, by_nip=o.nip,
                               now=self.now, expected_revision=o.revision,
                               calendar=CALENDAR)  # fmt: skip

    @invariant()
    def observer_never_double_booked(self) -> None:
        live = [
            o.scheduled_at
            for o in self.obs.values()
            if o.state is State.DIJADWALKAN and o.scheduled_at is not None
        ]
        for i, at in enumerate(live):
            assert not slot_clashes(at, live[i + 1 :])

    @invariant()
    def history_matches_the_schedule(self) -> None:
        for nip, o in self.obs.items():
            lines = self.history[nip]
            if o.state is State.BELUM_DIJADWALKAN:
                assert lines == []
            else:
                assert lines
                assert lines[-1].scheduled_at == o.scheduled_at
                assert [c.revision for c in lines] == sorted({c.revision for c in lines})


ObservationSequences.TestCase.settings = settings(max_examples=200, stateful_step_count=40)
TestObservationSequences = ObservationSequences.TestCase
