"""The circuit breaker state machine, over scripted and random sequences of outcomes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bkn_sync.domain.breaker import Breaker, BreakerConfig, BreakerState, Health, Permit

CONFIG = BreakerConfig(window_seconds=10, min_failures=3, failure_ratio=0.5, cool_down_seconds=5)


def opened(now: float = 0.0) -> Breaker:
    b = Breaker(CONFIG)
    for i in range(3):
        permit = b.acquire(now + i * 0.1)
        assert permit is not None
        b.record(permit, Health.DOWN, now + i * 0.1)
    assert b.state is BreakerState.OPEN
    return b


def test_sustained_failure_opens_it_and_nothing_passes_during_the_cool_down() -> None:
    b = opened()
    assert b.acquire(1.0) is None
    assert b.acquire(5.1) is None
    assert b.retry_in(1.0) > 0


def test_occasional_failures_among_successes_keep_it_closed() -> None:
    b = Breaker(CONFIG)
    for i in range(100):
        permit = b.acquire(i * 0.05)
        assert permit is not None
        b.record(permit, Health.DOWN if i % 5 == 0 else Health.UP, i * 0.05)
    assert b.state is BreakerState.CLOSED


def test_failures_older_than_the_window_do_not_count() -> None:
    b = Breaker(CONFIG)
    for t in (0.0, 0.1, 20.0):
        permit = b.acquire(t)
        assert permit is not None
        b.record(permit, Health.DOWN, t)
    assert b.state is BreakerState.CLOSED


def test_after_the_cool_down_one_probe_passes_and_its_success_closes_it() -> None:
    b = opened()
    probe = b.acquire(5.3)
    assert probe is not None
    assert probe.probe
    assert b.state is BreakerState.HALF_OPEN
    assert b.acquire(5.3) is None
    b.record(probe, Health.UP, 5.4)
    assert b.state is BreakerState.CLOSED
    assert b.acquire(5.5) is not None


def test_a_failed_probe_opens_it_for_another_cool_down() -> None:
    b = opened()
    probe = b.acquire(6.0)
    assert probe is not None
    b.record(probe, Health.DOWN, 6.1)
    assert b.state is BreakerState.OPEN
    assert b.acquire(10.0) is None
    assert b.acquire(11.2) is not None


def test_a_probe_without_verdict_lets_another_probe_through() -> None:
    b = opened()
    probe = b.acquire(6.0)
    assert probe is not None
    b.record(probe, Health.UNKNOWN, 6.1)
    assert b.state is BreakerState.HALF_OPEN
    again = b.acquire(6.2)
    assert again is not None
    assert again.probe


def test_an_announced_outage_opens_it_at_once_for_as_long_as_announced() -> None:
    b = Breaker(CONFIG)
    permit = b.acquire(0.0)
    assert permit is not None
    b.record(permit, Health.DOWN, 0.0, down_for=30)
    assert b.state is BreakerState.OPEN
    assert b.acquire(29.0) is None
    assert b.acquire(30.0) is not None


def test_a_slow_call_let_through_before_it_opened_cannot_close_it() -> None:
    b = Breaker(CONFIG)
    slow = b.acquire(0.0)
    assert slow is not None
    for i in range(3):
        permit = b.acquire(0.1 * i)
        assert permit is not None
        b.record(permit, Health.DOWN, 0.1 * i)
    b.record(slow, Health.UP, 1.0)
    assert b.state is BreakerState.OPEN


# One step: a caller asks for a permit, or an outstanding permit reports, after a time step.
steps = st.lists(
    st.tuples(
        st.sampled_from(["acquire", "report"]),
        st.sampled_from(list(Health)),
        st.floats(min_value=0, max_value=3),
        st.integers(min_value=0, max_value=50),
        st.one_of(st.none(), st.floats(min_value=0, max_value=20)),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_random_outcomes_never_let_two_probes_out_nor_any_call_while_open(
    script: list[tuple[str, Health, float, int, float | None]],
) -> None:
    b = Breaker(CONFIG)
    now = 0.0
    outstanding: list[Permit] = []
    for action, health, dt, pick, down_for in script:
        now += dt
        if action == "acquire":
            was_open_and_cooling = b.state is BreakerState.OPEN and b.retry_in(now) > 0
            permit = b.acquire(now)
            if was_open_and_cooling:
                assert permit is None  # attempts while open: none
            if permit is not None:
                outstanding.append(permit)
        elif outstanding:
            permit = outstanding.pop(pick % len(outstanding))
            b.record(permit, health, now, down_for)
        live_probes = [p for p in outstanding if p.probe and p.generation == b.generation]
        assert len(live_probes) <= 1
        if b.state is BreakerState.HALF_OPEN:
            assert b.probe_out == (len(live_probes) == 1)
        if b.state is BreakerState.OPEN:
            assert not live_probes
        if b.state is BreakerState.CLOSED:
            assert not any(p.probe for p in outstanding if p.generation == b.generation)


async def test_the_gate_holds_callers_while_open_and_gives_up_after_the_hold_limit() -> None:
    import pytest

    from bkn_sync.breaker import BreakerOpen, Gate

    gate = Gate(BreakerConfig(min_failures=1, cool_down_seconds=60), hold_max_seconds=0.05)
    permit = await gate.permit()
    gate.record(permit, Health.DOWN)
    assert gate.view().state is BreakerState.OPEN
    with pytest.raises(BreakerOpen):
        await gate.ready()
    with pytest.raises(BreakerOpen):
        await gate.permit()


async def test_the_gate_lets_one_probe_through_after_the_cool_down_then_everyone() -> None:
    import asyncio

    from bkn_sync.breaker import Gate

    gate = Gate(BreakerConfig(min_failures=1, cool_down_seconds=0.05), hold_max_seconds=5)
    gate.record(await gate.permit(), Health.DOWN)
    probe = await gate.permit()
    assert probe.probe
    waiting = asyncio.gather(*(gate.permit() for _ in range(5)))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    gate.record(probe, Health.UP)
    permits = await asyncio.wait_for(waiting, timeout=1)
    assert not any(p.probe for p in permits)
    assert gate.state is BreakerState.CLOSED


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=4), st.sampled_from([Health.UP, Health.DOWN])),
        max_size=200,
    )
)
def test_it_opens_exactly_when_the_window_holds_sustained_failure(
    calls: list[tuple[float, Health]],
) -> None:
    """Against the rule recomputed from scratch over every call so far."""
    b = Breaker(CONFIG)
    now = 0.0
    seen: list[tuple[float, bool]] = []
    for dt, health in calls:
        now += dt
        permit = b.acquire(now)
        assert permit is not None  # it never opened before this call
        b.record(permit, health, now)
        seen.append((now, health is Health.DOWN))
        window = [down for at, down in seen if at > now - CONFIG.window_seconds]
        failures = sum(window)
        should_open = failures >= CONFIG.min_failures and failures >= (
            CONFIG.failure_ratio * len(window)
        )
        assert (b.state is BreakerState.OPEN) == should_open
        if should_open:
            break
