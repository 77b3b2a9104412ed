"""Roster facts imported from Dapodik (the school master-data system), keyed by NIP or NPSN."""

from enum import StrEnum

from pydantic import Field

from .base import Payload


class StatusKepegawaian(StrEnum):
    PNS = "PNS"
    PPPK = "PPPK"
    NON_ASN = "NON_ASN"


class Naungan(StrEnum):
    """Which ministry the school sits under (docs/domain.md §1.1).

    Kemenag staff use e-Kinerja directly.
    """

    KEMENDIKDASMEN = "KEMENDIKDASMEN"
    KEMENAG = "KEMENAG"


class Pegawai(Payload):
    """One person on a school's roster. A tombstone (``aktif=False``) marks a transfer out."""

    nip: str = Field(pattern=r"^\d{18}$")
    nama: str
    npsn: str = Field(description="The school (Satuan Pendidikan) the person works at.")
    jenis_ptk: str = Field(description="Dapodik staff type, e.g. 'Guru Mapel', 'Kepala Sekolah'.")
    status_kepegawaian: StatusKepegawaian
    naungan: Naungan = Naungan.KEMENDIKDASMEN
    kode_wilayah: str = Field(description="The Dinas area (kode wilayah) of the school.")
    atasan_nip: str | None = Field(
        default=None, description="The direct supervisor (Kepala Sekolah or Plt.); None if unset."
    )
    atasan_plt: bool = Field(
        default=False, description="True when the atasan is an acting (Plt.) principal."
    )
    aktif: bool = True


class Sekolah(Payload):
    npsn: str
    nama: str
    kode_wilayah: str
    naungan: Naungan = Naungan.KEMENDIKDASMEN
