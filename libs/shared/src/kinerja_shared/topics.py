"""Every Kafka topic of Kinerja, declared once (docs/architecture.md "Events").

Names are ``kinerja.<service>.<event>.v<major>``. Services import the constants, never a string;
``kinerja-topics create`` makes the cluster match this list and the deploy manifests are
generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from .envelope import Envelope
from .events.assessment import AssessmentRecommended, SchoolSubmitted
from .events.bkn_sync import DeliveryStatus
from .events.observation import (
    CompetencyReported,
    DutyReported,
    FollowupReflected,
    ObservationConducted,
    ObservationRescheduled,
    ObservationScheduled,
)
from .events.planning import PlanAgreed, PlanApproved, PlanReturned, PlanRevised, PlanSubmitted
from .events.predikat import OrganisasiDitetapkan, PredikatDitetapkan
from .events.roster import Pegawai, Sekolah

P = TypeVar("P", bound=BaseModel)

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class Topic(Generic[P]):
    name: str
    event_type: str
    payload: type[P]
    key: str
    partitions: int = 12
    retention_ms: int = 14 * DAY_MS
    compacted: bool = False
    schema_version: int = 1
    description: str = ""

    @property
    def producer(self) -> str:
        return self.name.split(".")[1]

    def key_of(self, payload: P) -> str:
        """The record's Kafka key: the payload fields the topic declares, joined by ':'. It is
        also the envelope's ``subject`` (``event``), on every topic: one rule, no exception."""
        return ":".join(str(getattr(payload, part)) for part in self.key.split(":"))

    def event(self, payload: P) -> Envelope[P]:
        """The envelope of ``payload`` on this topic, its subject the record key."""
        return self.envelope(self.key_of(payload), payload)

    @cached_property
    def envelope_type(self) -> type[Envelope[P]]:
        """``Envelope[payload]``, held here: pydantic's cache of parametrized classes holds them
        weakly, so once a garbage collection had freed the class, the next ``Envelope[...]``
        built it anew (~15 ms; about 2 % of bkn-sync's CPU per delivery)."""
        return Envelope[self.payload]  # type: ignore[name-defined]

    def envelope(self, subject: str, payload: P) -> Envelope[P]:
        return self.envelope_type(
            type=self.event_type,
            schema_version=self.schema_version,
            producer=self.producer,
            subject=subject,
            payload=payload,
        )

    def decode(self, raw: bytes) -> Envelope[P]:
        """Parse one record; raises ``pydantic.ValidationError`` for a poison message."""
        return self.envelope_type.model_validate_json(raw)

    def config(self) -> dict[str, str]:
        if self.compacted:
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


ROSTER_PEGAWAI = Topic(
    "kinerja.roster.pegawai.v1",
    "roster.pegawai",
    Pegawai,
    key="nip",
    compacted=True,
    description="The current roster entry of each person, from Dapodik.",
)
ROSTER_SEKOLAH = Topic(
    "kinerja.roster.sekolah.v1",
    "roster.sekolah",
    Sekolah,
    key="npsn",
    compacted=True,
    description="The current entry of each school, from Dapodik.",
)
PLAN_SUBMITTED = Topic(
    "kinerja.planning.plan-submitted.v1", "planning.plan-submitted", PlanSubmitted, key="nip"
)
PLAN_RETURNED = Topic(
    "kinerja.planning.plan-returned.v1", "planning.plan-returned", PlanReturned, key="nip"
)
PLAN_APPROVED = Topic(
    "kinerja.planning.plan-approved.v1", "planning.plan-approved", PlanApproved, key="nip"
)
PLAN_AGREED = Topic(
    "kinerja.planning.plan-agreed.v1",
    "planning.plan-agreed",
    PlanAgreed,
    key="nip",
    description="The agreed plan: the SKP that bkn-sync sends to e-Kinerja.",
)
PLAN_REVISED = Topic(
    "kinerja.planning.plan-revised.v1", "planning.plan-revised", PlanRevised, key="nip"
)
OBSERVATION_SCHEDULED = Topic(
    "kinerja.observation.scheduled.v1",
    "observation.scheduled",
    ObservationScheduled,
    key="nip",
)
OBSERVATION_RESCHEDULED = Topic(
    "kinerja.observation.rescheduled.v1",
    "observation.rescheduled",
    ObservationRescheduled,
    key="nip",
)
FOLLOWUP_REFLECTED = Topic(
    "kinerja.observation.followup-reflected.v1",
    "observation.followup-reflected",
    FollowupReflected,
    key="nip",
)
COMPETENCY_REPORTED = Topic(
    "kinerja.observation.competency-reported.v1",
    "observation.competency-reported",
    CompetencyReported,
    key="nip",
)
DUTY_REPORTED = Topic(
    "kinerja.observation.duty-reported.v1", "observation.duty-reported", DutyReported, key="nip"
)
OBSERVATION_CONDUCTED = Topic(
    "kinerja.observation.conducted.v1",
    "observation.conducted",
    ObservationConducted,
    key="nip",
)
ASSESSMENT_RECOMMENDED = Topic(
    "kinerja.assessment.recommended.v1",
    "assessment.recommended",
    AssessmentRecommended,
    key="nip",
)
SCHOOL_SUBMITTED = Topic(
    "kinerja.assessment.school-submitted.v1",
    "assessment.school-submitted",
    SchoolSubmitted,
    key="npsn",
)
ORGANISASI_DITETAPKAN = Topic(
    "kinerja.predikat.organisasi-ditetapkan.v1",
    "predikat.organisasi-ditetapkan",
    OrganisasiDitetapkan,
    key="npsn",
)
PREDIKAT_DITETAPKAN = Topic(
    "kinerja.predikat.ditetapkan.v1",
    "predikat.ditetapkan",
    PredikatDitetapkan,
    key="nip",
    retention_ms=90 * DAY_MS,
    description="Public contract: a teacher's predikat was set (or corrected) and sent.",
)
PREDIKAT_CURRENT = Topic(
    "kinerja.predikat.current.v1",
    "predikat.current",
    PredikatDitetapkan,
    key="nip:period_id",
    compacted=True,
    description="Public, compacted: the latest predikat sent per '<nip>:<period_id>' (the key "
    "and the envelope's subject), type 'predikat.current', so a new consumer starts from the "
    "state instead of the history.",
)
BKN_DELIVERY_STATUS = Topic(
    "kinerja.bkn-sync.delivery-status.v1",
    "bkn-sync.delivery-status",
    DeliveryStatus,
    key="nip",
    description="Where each delivery to e-Kinerja stands.",
)

REGISTRY: tuple[Topic[Any], ...] = (
    ROSTER_PEGAWAI,
    ROSTER_SEKOLAH,
    PLAN_SUBMITTED,
    PLAN_RETURNED,
    PLAN_APPROVED,
    PLAN_AGREED,
    PLAN_REVISED,
    OBSERVATION_SCHEDULED,
    OBSERVATION_RESCHEDULED,
    OBSERVATION_CONDUCTED,
    FOLLOWUP_REFLECTED,
    COMPETENCY_REPORTED,
    DUTY_REPORTED,
    ASSESSMENT_RECOMMENDED,
    SCHOOL_SUBMITTED,
    ORGANISASI_DITETAPKAN,
    PREDIKAT_DITETAPKAN,
    PREDIKAT_CURRENT,
    BKN_DELIVERY_STATUS,
)


def dlq_name(consumer: str) -> str:
    """Each consumer group parks its poison messages on a topic of its own."""
    return f"kinerja.{consumer}.dlq.v1"


SERVICES = ("planning", "observation", "assessment", "predikat", "bkn-sync")


@dataclass(frozen=True)
class RawTopic:
    """A topic whose records are not envelopes of one payload: retry tiers and DLQs carry the
    original record unchanged, with where it came from and why in headers."""

    name: str
    partitions: int = 12
    retention_ms: int = 14 * DAY_MS

    def config(self) -> dict[str, str]:
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


BKN_RETRY_TIERS = tuple(RawTopic(f"kinerja.bkn-sync.retry-{n}.v1") for n in (1, 2, 3))
DLQS = tuple(RawTopic(dlq_name(s), retention_ms=30 * DAY_MS) for s in SERVICES)


def all_topics() -> tuple[Topic[Any] | RawTopic, ...]:
    return (*REGISTRY, *BKN_RETRY_TIERS, *DLQS)
