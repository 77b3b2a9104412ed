"""Object-level authorisation from the token and the roster projection (docs/domain.md §1.3;
the whole rule as one table in ``kinerja_shared.policy``).

A Guru reaches only their own records; a Kepala Sekolah only the teachers whose atasan they are
on the roster (and their own school's facts); a Dinas only the schools of its area; an operator
reads everything and changes nothing. Each refusal is a ``Refusal`` with its own code.

Who may see a teacher is decided before whether the teacher exists: a caller who may not see a
NIP's records gets the same 403 whether the NIP is on the roster or not, so refusals cannot be
used to find out which NIPs exist. PEGAWAI_NOT_FOUND (404) goes only to a caller who would be
allowed to see the teacher: the teacher themself, an operator. Schools are public, so
SEKOLAH_NOT_FOUND stays as it was (``authorize_school_read``).
"""

from __future__ import annotations

import asyncpg

from .auth import Principal, Role
from .db import Executor
from .nip import NIP_INVALID_CODE, NIP_LENGTH, has_nip_format
from .refusal import Kind, Refusal
from .roster.projection import get_pegawai, get_sekolah


def forbidden(code: str, message: str) -> Refusal:
    return Refusal(code, message, Kind.FORBIDDEN)


def not_atasan() -> Refusal:
    return forbidden("V-10", "Anda bukan atasan langsung pegawai ini.")


def not_own_record() -> Refusal:
    return forbidden("NOT_OWN_RECORD", "Anda hanya dapat melihat data kinerja Anda sendiri.")


def not_school_reader() -> Refusal:
    return forbidden("ROLE_FORBIDDEN", "Anda tidak berwenang melihat data satuan pendidikan ini.")


def unseen(principal: Principal) -> Refusal:
    """What a caller who may not see a teacher's record gets, whether or not it exists."""
    if principal.role is Role.GURU:
        return not_own_record()
    if principal.role is Role.KEPALA_SEKOLAH:
        return not_atasan()
    if principal.role is Role.DINAS:
        return outside_area()
    return forbidden("ROLE_FORBIDDEN", "Peran Anda tidak memiliki akses ke fitur ini.")


def outside_area() -> Refusal:
    return forbidden("OUTSIDE_AREA", "Satuan pendidikan ini di luar wilayah Dinas Anda.")


def _in_area(principal: Principal, kode_wilayah: str) -> bool:
    return principal.area is not None and kode_wilayah.startswith(principal.area)


def nip_invalid(nip: str) -> Refusal:
    """V-24 for a NIP that cannot be one: said before any lookup, so it tells nothing about who
    is on the roster, and the caller fixes the typo instead of calling the Operator Sekolah."""
    return Refusal(
        NIP_INVALID_CODE,
        f"NIP tidak valid: NIP terdiri dari tepat {NIP_LENGTH} angka, tanpa spasi atau tanda "
        f"baca ({len(nip)} karakter diterima).",
        Kind.INVALID,
        expected_length=NIP_LENGTH,
        length=len(nip),
    )


def require_nip_format(nip: str) -> None:
    if not has_nip_format(nip):
        raise nip_invalid(nip)


def pegawai_not_found() -> Refusal:
    return Refusal(
        "PEGAWAI_NOT_FOUND",
        "Pegawai tidak ditemukan pada data Dapodik. Hubungi Operator Sekolah.",
        Kind.NOT_FOUND,
    )


async def _active_teacher(conn: Executor, nip: str) -> asyncpg.Record | None:
    row = await get_pegawai(conn, nip)
    return row if row is not None and row["aktif"] else None


async def teacher_on_roster(conn: Executor, nip: str) -> asyncpg.Record:
    """The roster row of ``nip``; 404 when absent. Only for a NIP the caller may see (their
    own, or after an authorize_* check): elsewhere the 404 would tell that it exists."""
    require_nip_format(nip)
    row = await _active_teacher(conn, nip)
    if row is None:
        raise pegawai_not_found()
    return row


async def school_on_roster(conn: Executor, npsn: str) -> asyncpg.Record:
    row = await get_sekolah(conn, npsn)
    if row is None:
        raise Refusal(
            "SEKOLAH_NOT_FOUND",
            "Satuan pendidikan tidak ditemukan pada data Dapodik.",
            Kind.NOT_FOUND,
        )
    return row


async def authorize_read(conn: Executor, principal: Principal, nip: str) -> asyncpg.Record:
    """The roster row of ``nip`` if ``principal`` may read that teacher's records."""
    require_nip_format(nip)
    if principal.role is Role.OPERATOR:
        return await teacher_on_roster(conn, nip)
    if principal.nip == nip and principal.role in (Role.GURU, Role.KEPALA_SEKOLAH):
        return await teacher_on_roster(conn, nip)
    if principal.role is Role.GURU:
        raise not_own_record()
    teacher = await _active_teacher(conn, nip)
    if principal.role is Role.KEPALA_SEKOLAH:
        if teacher is None or teacher["atasan_nip"] != principal.nip:
            raise not_atasan()
        return teacher
    if teacher is None:
        raise outside_area()
    school = await get_sekolah(conn, teacher["npsn"])
    area = school["kode_wilayah"] if school is not None else teacher["kode_wilayah"]
    if not _in_area(principal, area):
        raise outside_area()
    return teacher


async def authorize_school_read(conn: Executor, principal: Principal, npsn: str) -> asyncpg.Record:
    """The roster row of school ``npsn`` if ``principal`` may read its school-level facts: its
    Kepala Sekolah, the Dinas of its area, or an operator."""
    if principal.role is Role.OPERATOR:
        return await school_on_roster(conn, npsn)
    if principal.role is Role.KEPALA_SEKOLAH and principal.npsn == npsn:
        return await school_on_roster(conn, npsn)
    if principal.role is not Role.DINAS:
        raise not_school_reader()
    # Schools are public (NPSN and region are in the published Dapodik register), so unlike a
    # NIP an unknown NPSN may say so: a Dinas learns "not imported yet" rather than "not yours".
    school = await school_on_roster(conn, npsn)
    if not _in_area(principal, school["kode_wilayah"]):
        raise outside_area()
    return school


async def authorize_dinas(conn: Executor, principal: Principal, npsn: str) -> asyncpg.Record:
    """The roster row of school ``npsn`` if ``principal`` is the Dinas of its area."""
    if principal.role is not Role.DINAS:
        raise forbidden("ROLE_FORBIDDEN", "Hanya Dinas Pendidikan yang dapat melakukan ini.")
    school = await school_on_roster(conn, npsn)
    if not _in_area(principal, school["kode_wilayah"]):
        raise outside_area()
    return school


def require_kepala_sekolah(principal: Principal) -> str:
    """The caller's NIP if they are a Kepala Sekolah, the only role that acts as atasan."""
    if principal.role is not Role.KEPALA_SEKOLAH or principal.nip is None:
        raise forbidden("ROLE_FORBIDDEN", "Hanya Kepala Sekolah (atasan) yang dapat melakukan ini.")
    return principal.nip


async def authorize_atasan(conn: Executor, principal: Principal, nip: str) -> asyncpg.Record:
    """The roster row of ``nip`` if ``principal`` is that teacher's atasan (and may act)."""
    atasan = require_kepala_sekolah(principal)
    require_nip_format(nip)
    teacher = await _active_teacher(conn, nip)
    if teacher is None or teacher["atasan_nip"] != atasan:
        raise not_atasan()
    return teacher


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        names = ", ".join(r.value for r in roles)
        raise forbidden("ROLE_FORBIDDEN", f"Tindakan ini hanya untuk peran: {names}.")
