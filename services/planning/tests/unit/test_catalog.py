from __future__ import annotations

from planning.domain.catalog import Catalog


def test_catalog_has_eight_sub_indicators_with_rubrics_and_seven_behaviours(
    catalog: Catalog,
) -> None:
    assert catalog.sub_indikator == {f"D1.{n}" for n in range(1, 9)}
    assert all(3 <= len(s["rubrik"]) <= 5 for s in catalog.raw["sub_indikator"])
    assert len(catalog.perilaku) == 7
    assert catalog.indikator_kompetensi
