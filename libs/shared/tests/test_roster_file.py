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


# Words of the libraries' English that must never reach the people who fix the file.
ENGLISH = ("expected", "digits", "is not a valid", "field required", "string", "after today")


def test_every_refused_row_is_reported_in_indonesian() -> None:
    good = next(iter(generate(DistrictShape(schools=1), seed=1)))
    rows = [
        {**good, "nip": "19860926201505100"},  # 17 digits
        {**good, "nip": "198613262015051001"},  # month 13
        {**good, "nip": "198609262015053001"},  # digit 15 neither 1 nor 2
        {**good, "status_kepegawaian": "HONORER"},
        {**good, "naungan": "KEMENKES"},
        {k: v for k, v in good.items() if k != "nama"},
    ]
    roster = dapodik.parse(rows, today=TODAY)

    reasons = [e.reason for e in roster.errors]
    assert len(reasons) == len(rows)
    for reason in reasons:
        assert reason.startswith(("NIP tidak valid: ", "baris tidak valid: ")), reason
        assert not any(word in reason.lower() for word in ENGLISH), reason
    assert "harus tepat 18 angka" in reasons[0]
    assert "jenis kelamin" in reasons[2]
    assert "kolom status_kepegawaian berisi 'HONORER'" in reasons[3]
    assert "kolom naungan" in reasons[4]
    assert reasons[5] == "baris tidak valid: kolom nama tidak ada"
