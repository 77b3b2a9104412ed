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
