"""The follow-up state machine (docs/domain.md §2.4), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kinerja_shared.refusal import Refusal
from observation.domain.followup import (
    Followup,
    FollowupState,
    log_action,
    review,
    submit_reflection,
)

NOW = datetime(2026, 4, 1, 3, 0, tzinfo=UTC)
KS = "197001011995011001"


def fresh() -> Followup:
    return Followup(nip="198501012010011001", period_id="2026")


def test_actions_then_reflection_then_review() -> None:
    f = log_action(fresh(), "Menyusun kesepakatan kelas", now=NOW)
    f = log_action(f, "Refleksi mingguan bersama murid", now=NOW)
    assert (f.state, len(f.actions)) == (FollowupState.UPAYA_BERJALAN, 2)
    f = submit_reflection(f, "Murid lebih tertib.", now=NOW)
    assert f.state is FollowupState.REFLEKSI_DIKIRIM
    f = review(f, "Lanjutkan.", by_nip=KS, now=NOW)
    assert (f.state, f.reviewed_by, f.revision) == (FollowupState.DITINJAU, KS, 4)


def test_repeating_the_last_step_changes_nothing() -> None:
    f = log_action(fresh(), "Aksi", now=NOW)
    assert log_action(f, "Aksi", now=NOW) is f
    r = submit_reflection(f, "Refleksi", now=NOW)
    assert submit_reflection(r, "Refleksi", now=NOW) is r


def test_reflection_needs_an_action_first_and_text() -> None:
    with pytest.raises(Refusal, match=r"^INVALID_STATE:"):
        submit_reflection(fresh(), "Refleksi", now=NOW)
    with pytest.raises(Refusal, match=r"^FOLLOWUP_REFLECTION_REQUIRED:"):
        submit_reflection(log_action(fresh(), "Aksi", now=NOW), "  ", now=NOW)


def test_no_more_actions_after_the_reflection_and_no_review_before_it() -> None:
    reflected = submit_reflection(log_action(fresh(), "Aksi", now=NOW), "Refleksi", now=NOW)
    with pytest.raises(Refusal, match=r"^INVALID_STATE:"):
        log_action(reflected, "Aksi lain", now=NOW)
    with pytest.raises(Refusal, match=r"^INVALID_STATE:"):
        review(log_action(fresh(), "Aksi", now=NOW), None, by_nip=KS, now=NOW)
