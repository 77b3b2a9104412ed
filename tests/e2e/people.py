"""Fresh people and schools for one e2e test, so runs never collide on shared topics."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from kinerja_shared.events.roster import Pegawai, Sekolah, StatusKepegawaian


def new_nip(rng: random.Random) -> str:
    born = f"19{rng.randint(70, 95)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    tmt = f"{int(born[:4]) + rng.randint(22, 28)}{rng.randint(1, 12):02d}"
    return f"{born}{tmt}{rng.choice('12')}{rng.randint(1, 999):03d}"


@dataclass
class School:
    sekolah: Sekolah
    kepala: Pegawai
    guru: list[Pegawai]


def new_school(teachers: int = 1, *, plt: bool = False, headless: bool = False) -> School:
    rng = random.Random(secrets.randbits(64))
    npsn = f"{rng.randint(10_000_000, 99_999_999)}"
    kode = "3171"
    sekolah = Sekolah(npsn=npsn, nama=f"SMP Negeri {rng.randint(1, 300)} Uji", kode_wilayah=kode)
    kepala = Pegawai(
        nip=new_nip(rng),
        nama="Kepala Uji",
        npsn=npsn,
        jenis_ptk="Kepala Sekolah",
        status_kepegawaian=StatusKepegawaian.PNS,
        kode_wilayah=kode,
    )
    guru = [
        Pegawai(
            nip=new_nip(rng),
            nama=f"Guru Uji {i}",
            npsn=npsn,
            jenis_ptk="Guru Mapel",
            status_kepegawaian=StatusKepegawaian.PNS,
            kode_wilayah=kode,
            atasan_nip=None if headless else kepala.nip,
            atasan_plt=plt,
        )
        for i in range(teachers)
    ]
    return School(sekolah, kepala, guru)
