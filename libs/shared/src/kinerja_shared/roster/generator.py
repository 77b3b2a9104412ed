"""A realistic sample district for demos, tests and benchmarks, of any size.

Shapes taken from docs/domain.md: schools of very different sizes (a handful of teachers to ~60),
one Kepala Sekolah per school, some schools led by a Plt. (acting head: plans auto-approve),
a few with no head at all (the "Data atasan Anda tidak ditemukan" case), some madrasah under
Kemenag (out of scope: they use e-Kinerja directly), and a PNS/PPPK mix. NIPs follow the PNS
structure (birth date, TMT, gender, sequence) so they pass validation. Deterministic per seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

FIRST = (
    "Ahmad",
    "Siti",
    "Budi",
    "Dewi",
    "Agus",
    "Sri",
    "Eko",
    "Rina",
    "Hendra",
    "Nur",
    "Wayan",
    "Made",
    "Yohanes",
    "Maria",
    "Fajar",
    "Lestari",
    "Rahmat",
    "Indah",
    "Joko",
    "Putu",
    "Ketut",
    "Andi",
    "Fitri",
    "Dedi",
    "Yuli",
    "Bambang",
    "Ratna",
    "Slamet",
)
LAST = (
    "Saputra",
    "Wulandari",
    "Santoso",
    "Lestari",
    "Hidayat",
    "Rahayu",
    "Kusuma",
    "Nugroho",
    "Pratama",
    "Siregar",
    "Nasution",
    "Simanjuntak",
    "Wijaya",
    "Setiawan",
    "Hasibuan",
    "Manurung",
    "Gunawan",
    "Purnomo",
    "Susanti",
    "Harahap",
)
JENIS_GURU = ("Guru Mapel", "Guru Kelas", "Guru BK", "Guru TIK", "Guru Pendamping Khusus")
JENJANG = ("SD Negeri", "SMP Negeri", "SMA Negeri", "SMK Negeri")


@dataclass(frozen=True)
class DistrictShape:
    schools: int = 20
    plt_share: float = 0.08
    headless_share: float = 0.03
    kemenag_share: float = 0.05
    pppk_share: float = 0.35
    kode_wilayah: str = "3171"


def _nip(rng: random.Random, used: set[str], *, pppk: bool) -> str:
    while True:
        born = date(1965, 1, 1) + timedelta(days=rng.randrange(0, 35 * 365))
        start_year = min(born.year + rng.randint(22, 35), 2024)
        tmt = f"{start_year}{rng.randint(1, 12):02d}"
        if pppk:
            tmt = f"{rng.choice((2021, 2022, 2023, 2024))}{rng.randint(1, 12):02d}"
        nip = f"{born:%Y%m%d}{tmt}{rng.choice('12')}{rng.randint(1, 999):03d}"
        if nip not in used:
            used.add(nip)
            return nip


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _school_size(rng: random.Random) -> int:
    # Most Indonesian schools are small; a few large SMA/SMK have 40-60 teachers.
    return min(60, max(4, int(rng.lognormvariate(2.4, 0.55))))


def generate(shape: DistrictShape, *, seed: int = 1) -> Iterator[dict[str, str]]:
    """Dapodik-style rows (see dapodik.COLUMNS) for a district of ``shape.schools`` schools."""
    rng = random.Random(seed)
    used: set[str] = set()
    for i in range(shape.schools):
        npsn = f"{int(shape.kode_wilayah) * 10_000 + i:08d}"  # unique within the district
        kind = rng.random()
        kemenag = kind < shape.kemenag_share
        school = {
            "npsn": npsn,
            "nama_sekolah": ("MIN" if kemenag else rng.choice(JENJANG)) + f" {i + 1} Contoh",
            "kode_wilayah": shape.kode_wilayah,
            "naungan": "KEMENAG" if kemenag else "KEMENDIKDASMEN",
        }
        roll = rng.random()
        headless = roll < shape.headless_share
        plt = not headless and roll < shape.headless_share + shape.plt_share
        head_nip = None if headless else _nip(rng, used, pppk=False)
        if head_nip is not None:
            yield {
                **school,
                "nip": head_nip,
                "nama": _name(rng),
                "jenis_ptk": "Guru Mapel" if plt else "Kepala Sekolah",
                "status_kepegawaian": "PNS",
                "atasan_nip": "",
                "atasan_plt": "0",
                "aktif": "1",
            }
        for _ in range(_school_size(rng)):
            pppk = rng.random() < shape.pppk_share
            yield {
                **school,
                "nip": _nip(rng, used, pppk=pppk),
                "nama": _name(rng),
                "jenis_ptk": rng.choice(JENIS_GURU),
                "status_kepegawaian": "PPPK" if pppk else "PNS",
                "atasan_nip": head_nip or "",
                "atasan_plt": "1" if plt else "0",
                "aktif": "1",
            }
