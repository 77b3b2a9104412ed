"""Random command sequences never break the plan's invariants."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from kinerja_shared.refusal import Refusal
from planning.domain.catalog import Catalog
from planning.domain.plan import Atasan, Plan, PlanContent, PlanState, Transition, new_plan

NOW = datetime(2025, 1, 10, tzinfo=UTC)
GURU = "198501012010011001"
KS = ["197001011995031002", "197501012000031004"]
GOOD = PlanContent(
    sub_indikator=("D1.2",), indikator_kompetensi=("KS.2",), perilaku_fokus=("HARMONIS",)
)
BAD = PlanContent(sub_indikator=("D1.2", "D1.3"))

commands = st.one_of(
    st.tuples(st.just("edit"), st.sampled_from([GOOD, BAD])),
    st.tuples(st.just("submit"), st.sampled_from([None, *KS]), st.booleans()),
    st.tuples(st.just("withdraw"), st.sampled_from([GURU, KS[0]])),
    st.tuples(st.just("approve"), st.sampled_from(KS)),
    st.tuples(st.just("return"), st.sampled_from(KS), st.sampled_from(["", "x" * 25])),
    st.tuples(st.just("agree"), st.sampled_from([GURU, KS[0]])),
    st.tuples(st.just("roster"), st.sampled_from([None, *KS]), st.booleans()),
    st.tuples(st.just("revise"), st.sampled_from(["", "Tugas tambahan berubah sejak Juli."])),
)


def run(plan: Plan, cmd: tuple[object, ...], catalog: Catalog) -> Transition:
    match cmd:
        case ("edit", PlanContent() as content):
            return plan.edit(content, catalog)
        case ("submit", nip, bool(plt)):
            return plan.submit(Atasan(nip if isinstance(nip, str) else None, plt), catalog, NOW)
        case ("withdraw", str(nip)):
            return plan.withdraw(nip)
        case ("approve", str(nip)):
            return plan.approve(nip, NOW)
        case ("return", str(nip), str(note)):
            return plan.return_for_revision(nip, note)
        case ("agree", str(nip)):
            return plan.agree(nip, NOW)
        case ("revise", str(reason)):
            return plan.revise(reason)
        case ("roster", nip, bool(plt)):
            return plan.reassign_atasan(Atasan(nip if isinstance(nip, str) else None, plt), NOW)
    raise AssertionError(cmd)


@settings(max_examples=300, deadline=None)
@given(st.lists(commands, max_size=25))
def test_random_command_sequences_keep_the_invariants(
    catalog: Catalog, sequence: list[tuple[object, ...]]
) -> None:
    plan = new_plan(
        plan_id="p",
        nip=GURU,
        npsn="20100001",
        period_id="2025",
        rules_version=2025,
        content=PlanContent(),
        catalog=catalog,
    )
    seen = [plan.state]
    agreed: dict[int, PlanContent] = {}
    reopened = 0
    for cmd in sequence:
        try:
            t = run(plan, cmd, catalog)
        except Refusal:
            continue
        assert isinstance(t.plan.state, PlanState)
        # Every accepted command that changes the plan raises the version; none lowers it.
        assert t.plan.version >= plan.version
        assert (t.plan.version > plan.version) == (t.plan != plan)
        # The revision only moves forward, by one, and only by reopening an agreed plan.
        assert t.plan.revision in (plan.revision, plan.revision + 1)
        if t.plan.revision > plan.revision:
            assert (plan.state, t.plan.state) == (PlanState.DISEPAKATI, PlanState.DIREVISI)
            assert t.plan.revision_reason
            reopened += 1
        # An agreed revision's content never changes afterwards.
        if t.plan.state is PlanState.DISEPAKATI:
            agreed.setdefault(t.plan.revision, t.plan.content)
        if t.plan.revision in agreed:
            assert t.plan.content == agreed[t.plan.revision]
        assert all(getattr(e, "version", t.plan.version) == t.plan.version for e in t.events)
        if t.plan.state is PlanState.DISEPAKATI and plan.state is not PlanState.DISEPAKATI:
            assert plan.state is PlanState.DISETUJUI
        if t.plan.state is PlanState.DIKEMBALIKAN:
            assert t.plan.return_note is not None
            assert len(t.plan.return_note) >= 20
        if t.plan.state in (PlanState.DIAJUKAN, PlanState.DISETUJUI):
            assert t.plan.atasan_nip is not None or cmd[0] == "roster"
        plan = t.plan
        seen.append(plan.state)
    if PlanState.DISEPAKATI in seen:
        assert PlanState.DISETUJUI in seen[: seen.index(PlanState.DISEPAKATI)]
    if PlanState.DIREVISI in seen:
        assert PlanState.DISEPAKATI in seen[: seen.index(PlanState.DIREVISI)]
    assert plan.revision == 1 + reopened
