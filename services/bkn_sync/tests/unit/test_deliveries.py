from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bkn_sync.domain.deliveries import (
    Arrival,
    RetrySchedule,
    delivery_key,
    idempotency_key,
    on_arrival,
)

NIP = "198609262015051001"


def test_idempotency_key_is_stable_for_one_version() -> None:
    # Pinned: a change would make e-Kinerja see every retry of old deliveries as new records.
    assert idempotency_key("SKP", NIP, "2025", 1) == idempotency_key("SKP", NIP, "2025", 1)
    assert str(idempotency_key("SKP", NIP, "2025", 1)) == str(
        idempotency_key("SKP", NIP, "2025", 1)
    )


@given(
    a=st.tuples(
        st.sampled_from(["SKP", "PREDIKAT"]), st.text("0123456789-", min_size=1), st.integers(1, 99)
    ),
    b=st.tuples(
        st.sampled_from(["SKP", "PREDIKAT"]), st.text("0123456789-", min_size=1), st.integers(1, 99)
    ),
)
def test_keys_differ_for_different_kind_period_or_version(
    a: tuple[str, str, int], b: tuple[str, str, int]
) -> None:
    ka = idempotency_key(a[0], NIP, a[1], a[2])
    kb = idempotency_key(b[0], NIP, b[1], b[2])
    assert (ka == kb) == (a == b)


def test_key_differs_per_teacher() -> None:
    assert idempotency_key("SKP", NIP, "2025", 1) != idempotency_key(
        "SKP", "198609262015051002", "2025", 1
    )


def test_delivery_key_names_the_slot() -> None:
    assert delivery_key("PREDIKAT", NIP, "2025") == f"PREDIKAT:{NIP}:2025"


def test_first_version_is_new() -> None:
    assert on_arrival(None, 1) is Arrival.NEW


@given(current=st.integers(1, 1000), incoming=st.integers(1, 1000))
def test_an_older_version_is_never_accepted_over_a_newer_one(current: int, incoming: int) -> None:
    arrival = on_arrival(current, incoming)
    if incoming < current:
        assert arrival is Arrival.OLDER
    elif incoming == current:
        assert arrival is Arrival.SAME
    else:
        assert arrival is Arrival.NEWER


def test_retry_tiers_escalate_then_end() -> None:
    schedule = RetrySchedule((30, 300, 3600))
    assert [schedule.next_tier(t) for t in (0, 1, 2, 3)] == [1, 2, 3, None]


def test_tier_due_time_uses_the_tier_delay_or_a_longer_retry_after() -> None:
    schedule = RetrySchedule((30, 300, 3600))
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert schedule.due_at(1, now) == now + timedelta(seconds=30)
    assert schedule.due_at(2, now, retry_after=10) == now + timedelta(seconds=300)
    assert schedule.due_at(1, now, retry_after=120) == now + timedelta(seconds=120)
