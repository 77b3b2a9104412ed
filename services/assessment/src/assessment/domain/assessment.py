"""One teacher's assessment for one period, folded from upstream facts (docs/domain.md §2.6) [D].

Upstream events arrive on different topics, so in any order, late or twice. Every fact is merged
by a rule that does not depend on arrival order:

- the plan: the highest ``(version, agreed)`` wins — a ``plan.revised`` of version n is older
  than the ``plan.agreed`` of the same version n, a stale version never replaces a newer one;
- evidence: one slot per kind, the latest ``occurred_at`` wins (ties broken by event id);
- the rating belongs to the plan version it was given for, so a newer plan version makes the
  assessment ``BELUM_DINILAI`` again without forgetting the evidence.

Evidence seen before any agreed plan is kept and simply counts once the plan arrives ("waits,
not fails"). The state is derived, never stored as a separate truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class AssessmentState(StrEnum):
    BELUM_DINILAI = "BELUM_DINILAI"
    DINILAI = "DINILAI"
    DIKIRIM_KE_DINAS = "DIKIRIM_KE_DINAS"


class EvidenceKind(StrEnum):
    OBSERVATION = "OBSERVATION"
    FOLLOWUP = "FOLLOWUP"
    COMPETENCY = "COMPETENCY"
    DUTY = "DUTY"


@dataclass(frozen=True)
class PlanFact:
    plan_id: str
    version: int
    agreed: bool
    npsn: str
    atasan_nip: str | None
    occurred_at: datetime

    @property
    def rank(self) -> tuple[int, bool, datetime]:
        return (self.version, self.agreed, self.occurred_at)


@dataclass(frozen=True)
class Evidence:
    kind: EvidenceKind
    occurred_at: datetime
    event_id: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rank(self) -> tuple[datetime, str]:
        return (self.occurred_at, self.event_id)


@dataclass(frozen=True)
class Assessment:
    plan: PlanFact | None = None
    # Once any version was agreed the teacher has an SKP; a later revision does not undo that.
    ever_agreed: bool = False
    evidence: Mapping[EvidenceKind, Evidence] = field(default_factory=lambda: MappingProxyType({}))
    rated_plan_version: int | None = None
    submitted: bool = False

    @property
    def state(self) -> AssessmentState:
        if self.submitted:
            return AssessmentState.DIKIRIM_KE_DINAS
        if (
            self.rated_plan_version is not None
            and self.plan is not None
            and self.rated_plan_version == self.plan.version
        ):
            return AssessmentState.DINILAI
        return AssessmentState.BELUM_DINILAI

    @property
    def waiting_for_plan(self) -> bool:
        """Evidence is held until an agreed plan tells us whose teacher this is."""
        return not self.ever_agreed

    def missing_evidence(self) -> list[EvidenceKind]:
        return [k for k in EvidenceKind if k not in self.evidence]


def with_plan(a: Assessment, incoming: PlanFact) -> Assessment:
    plan = a.plan if a.plan is not None and a.plan.rank >= incoming.rank else incoming
    return replace(a, plan=plan, ever_agreed=a.ever_agreed or incoming.agreed)


def with_evidence(a: Assessment, incoming: Evidence) -> Assessment:
    current = a.evidence.get(incoming.kind)
    if current is not None and current.rank >= incoming.rank:
        return a
    return replace(a, evidence=MappingProxyType({**a.evidence, incoming.kind: incoming}))


def with_rating(a: Assessment) -> Assessment:
    """The assessment once rated against its current plan version (the caller checked it may)."""
    assert a.plan is not None
    return replace(a, rated_plan_version=a.plan.version)


def submitted(a: Assessment) -> Assessment:
    return replace(a, submitted=True)


UpstreamFact = PlanFact | Evidence


def apply(a: Assessment, fact: UpstreamFact) -> Assessment:
    if isinstance(fact, PlanFact):
        return with_plan(a, fact)
    return with_evidence(a, fact)
