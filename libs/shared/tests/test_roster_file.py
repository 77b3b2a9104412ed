"""The Dapodik-style roster file and the sample district generator."""

from datetime import date
from pathlib import Path

from kinerja_shared.roster import dapodik
from kinerja_shared.roster.generator import DistrictShape, generate

TODAY = date(2026, 11, 24)


def test_generated_district_is_valid_and_has_every_case(tmp_path: Path) -> None:
    path = tmp_path / "district.csv"
    shape = DistrictShape(schools=200, plt_share=0.1, headless_share=0.05, kemenag_share=0.05)
    dapodik.write(path, generate(shape, seed=7))
    roster = dapodik.read(path, today=TODAY)
    assert roster.errors == []
    teachers = [p for p in roster.pegawai if p.jenis_ptk != "Kepala Sekolah"]
    assert any(p.atasan_plt for p in teachers), "some schools are led by a Plt."
    assert any(
        p.atasan_nip is None
        and p.jenis_ptk != "Kepala Sekolah"
        and p.npsn not in {q.npsn for q in roster.pegawai if q.jenis_ptk == "Kepala Sekolah"}
        for p in teachers
    ), "some teachers have no atasan at all"
    assert any(p.naungan == "KEMENAG" for p in roster.pegawai)
    assert {p.status_kepegawaian for p in roster.pegawai} == {"PNS", "PPPK"}
    assert len({p.nip for p in roster.pegawai}) == len(roster.pegawai)


def test_generation_is_deterministic_per_seed() -> None:
    shape = DistrictShape(schools=5)
    assert list(generate(shape, seed=3)) == list(generate(shape, seed=3))


def test_rows_with_a_bad_nip_are_reported_with_their_line_and_not_kept() -> None:
    good = next(iter(generate(DistrictShape(schools=1), seed=1)))
    bad = {**good, "nip": "19860926201505100"}  # 17 digits
    roster = dapodik.parse([good, bad], today=TODAY)
    assert [p.nip for p in roster.pegawai] == [good["nip"]]
    assert [(e.line, e.nip) for e in roster.errors] == [(3, bad["nip"])]
    assert "NIP tidak valid" in roster.errors[0].reason
