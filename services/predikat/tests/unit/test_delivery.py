from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinerja_shared.events.bkn_sync import DeliveryState
from predikat.domain.delivery import (
    DeliveryView,
    apply_status,
    delivery_id,
    status_text,
    view_of,
)

NEXT = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "view"),
    [
        (DeliveryState.QUEUED, DeliveryView.MENUNGGU),
        (DeliveryState.IN_FLIGHT, DeliveryView.MENUNGGU),
        (DeliveryState.DELIVERED, DeliveryView.TERKIRIM),
        (DeliveryState.RETRYING, DeliveryView.DICOBA_ULANG),
        (DeliveryState.PARKED, DeliveryView.TERTAHAN),
        (DeliveryState.DEAD, DeliveryView.TERTAHAN),
        (DeliveryState.SUPERSEDED, None),
    ],
)
def test_each_bkn_state_maps_to_what_the_principal_sees(
    state: DeliveryState, view: DeliveryView | None
) -> None:
    assert view_of(state) is view


def test_retrying_carries_the_next_attempt_time() -> None:
    facts = apply_status(
        1, DeliveryView.MENUNGGU, version=1, state=DeliveryState.RETRYING, next_attempt_at=NEXT
    )
    assert facts is not None
    assert facts.view is DeliveryView.DICOBA_ULANG
    assert facts.next_attempt_at == NEXT
    assert status_text(facts.view, facts.next_attempt_at).startswith(
        "Sedang dikirim ulang otomatis pada 2026-01-05 15:30 WIB"
    )


def test_parked_carries_reason_remedy_and_actor() -> None:
    facts = apply_status(
        1,
        DeliveryView.DICOBA_ULANG,
        version=1,
        state=DeliveryState.PARKED,
        reason_code="BKN-E03",
        reason="belum User PMM",
        remedy="Hubungi Admin BKD",
        actor="ADMIN_BKD",
    )
    assert facts is not None
    assert (facts.view, facts.reason_code, facts.remedy, facts.actor) == (
        DeliveryView.TERTAHAN,
        "BKN-E03",
        "Hubungi Admin BKD",
        "ADMIN_BKD",
    )


def test_a_status_of_an_older_version_is_ignored() -> None:
    assert apply_status(2, DeliveryView.MENUNGGU, version=1, state=DeliveryState.DELIVERED) is None


def test_a_status_before_anything_was_sent_is_ignored() -> None:
    assert (
        apply_status(0, DeliveryView.BELUM_DIKIRIM, version=0, state=DeliveryState.QUEUED) is None
    )


@given(st.sampled_from(list(DeliveryState)))
def test_nothing_hides_a_delivered_version(state: DeliveryState) -> None:
    assert apply_status(3, DeliveryView.TERKIRIM, version=3, state=state) is None


@given(st.lists(st.sampled_from(list(DeliveryState)), max_size=12))
def test_the_view_ends_terkirim_once_delivered_whatever_follows(
    states: list[DeliveryState],
) -> None:
    view = DeliveryView.MENUNGGU
    seen_delivered = False
    for state in [*states[:6], DeliveryState.DELIVERED, *states[6:]]:
        facts = apply_status(1, view, version=1, state=state)
        if facts is not None:
            view = facts.view
        seen_delivered = seen_delivered or state is DeliveryState.DELIVERED
    assert seen_delivered
    assert view is DeliveryView.TERKIRIM


def test_delivery_id_is_stable_per_version() -> None:
    nip = "198501012010011001"
    assert delivery_id(nip, "2025", 1) == delivery_id(nip, "2025", 1)
    assert delivery_id(nip, "2025", 1) != delivery_id(nip, "2025", 2)
