"""What a plan may choose from: the 8 sub indikator of Rapor Pendidikan D1 (each with its
rubric), the competency indicators and the 7 BerAKHLAK behaviours (docs/domain.md §2.2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SUB_INDIKATOR_COUNT = 8
BERAKHLAK_COUNT = 7
RUBRIC_ITEMS = range(3, 6)


@dataclass(frozen=True)
class Catalog:
    version: str
    sub_indikator: frozenset[str]
    indikator_kompetensi: frozenset[str]
    perilaku: frozenset[str]
    raw: Mapping[str, Any]

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> Catalog:
        subs = raw["sub_indikator"]
        if len(subs) != SUB_INDIKATOR_COUNT:
            raise ValueError("the catalog needs the 8 sub indikator of D1")
        for s in subs:
            if len(s["rubrik"]) not in RUBRIC_ITEMS:
                raise ValueError(f"sub indikator {s['code']} needs 3 to 5 rubric items")
        behaviours = raw["perilaku_berakhlak"]
        if len(behaviours) != BERAKHLAK_COUNT:
            raise ValueError("the catalog needs the 7 BerAKHLAK behaviours")
        return cls(
            version=str(raw["version"]),
            sub_indikator=frozenset(s["code"] for s in subs),
            indikator_kompetensi=frozenset(k["code"] for k in raw["indikator_kompetensi"]),
            perilaku=frozenset(b["code"] for b in behaviours),
            raw=raw,
        )
