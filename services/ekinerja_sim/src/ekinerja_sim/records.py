"""What the simulator records: the three delivery kinds and the record they address."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RecordKind(StrEnum):
    SKP = "skp"
    PENILAIAN_PERIODIK = "penilaian-periodik"
    PREDIKAT = "predikat"


@dataclass(frozen=True, slots=True)
class Target:
    """One record slot in e-Kinerja; newer versions replace older ones in the same slot."""

    kind: RecordKind
    nip: str
    period: str
    n: int | None = None  # periodik number; only for penilaian periodik

    def as_dict(self) -> dict[str, str | int | None]:
        return {"kind": self.kind.value, "nip": self.nip, "period": self.period, "n": self.n}
