"""Events of the observation service: the classroom observation and what follows it."""

from datetime import datetime

from .base import Payload


class ObservationFacts(Payload):
    observation_id: str
    plan_id: str
    nip: str
    npsn: str
    period_id: str


class ObservationScheduled(ObservationFacts):
    scheduled_at: datetime
    observer_nip: str
    revision: int


class ObservationConducted(ObservationFacts):
    """The rubric was scored; ``practice_rating`` feeds the work-result (HK) rating."""

    observer_nip: str
    conducted_at: datetime
    rubric_scores: dict[str, int]
    practice_rating: str


class ObservationRescheduled(ObservationFacts):
    scheduled_at: datetime
    previous_at: datetime
    reason: str
    observer_nip: str
    revision: int


class FollowupReflected(ObservationFacts):
    """The teacher's follow-up reflection (Refleksi Tindak Lanjut) after the observation."""

    actions: int
    reflection: str
    reflected_at: datetime


class CompetencyReported(Payload):
    """Competency development (Pengembangan Kompetensi) reported with its reflection (§2.5)."""

    nip: str
    npsn: str
    period_id: str
    activities: list[str]
    reflection: str
    reported_at: datetime


class DutyReported(Payload):
    """Main-duty work (Pelaksanaan Tugas Pokok) reported after completion (§2.5)."""

    nip: str
    npsn: str
    period_id: str
    tugas: list[str]
    reported_at: datetime
