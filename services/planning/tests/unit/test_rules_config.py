from __future__ import annotations

import json
from pathlib import Path

from planning.config import Settings
from planning.rules import PlanningRules


def _settings(**overrides: object) -> Settings:
    return Settings(
        database_url="postgresql://x@localhost/x", jwt_jwks_url="file:///x", **overrides
    )  # type: ignore[arg-type]


def test_packaged_periods_and_catalog_load_by_default() -> None:
    rules = PlanningRules.load(_settings())
    assert [p.period_id for p in rules.calendar] == ["2024-S1", "2024-S2", "2025", "2026", "2027"]
    assert len(rules.catalog.sub_indikator) == 8


def test_periods_file_setting_replaces_the_packaged_periods(tmp_path: Path) -> None:
    path = tmp_path / "periods.json"
    path.write_text(
        json.dumps(
            {
                "periods": [
                    {
                        "period_id": "2099",
                        "label": "Januari – Desember 2099",
                        "year": 2099,
                        "start": "2099-01-01",
                        "end": "2099-12-31",
                        "rules_version": 2025,
                        "stage_windows": {
                            "plan": {
                                "opens": "2098-12-10",
                                "soft_end": "2099-01-31",
                                "hard_end": "2100-01-31",
                            }
                        },
                    }
                ]
            }
        )
    )
    rules = PlanningRules.load(_settings(periods_file=path))
    assert [p.period_id for p in rules.calendar] == ["2099"]
