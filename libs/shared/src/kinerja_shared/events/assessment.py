"""Events of the assessment service: the ratings and the recommended predikat."""

from .base import Payload


class AssessmentRecommended(Payload):
    assessment_id: str
    nip: str
    npsn: str
    period_id: str
    atasan_nip: str
    hasil_kerja: str
    perilaku_kerja: str
    recommended_predikat: str


class SchoolSubmitted(Payload):
    """The Kepala Sekolah sent the school's assessments to the Dinas (key = NPSN)."""

    npsn: str
    period_id: str
    atasan_nip: str
    assessed: int
    excluded: int
