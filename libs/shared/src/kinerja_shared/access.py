"""Object-level authorisation from the token and the roster projection (docs/domain.md §1.3).

A Guru reaches only their own records; a Kepala Sekolah only the teachers whose atasan they are
on the roster (and their own school's facts); a Dinas only the schools of its area; an operator
reads everything and changes nothing. Each refusal is a ``Refusal`` with its own code.
"""

from __future__ import annotations

import asyncpg

from .auth import Principal, Role
from .db import Executor
from .refusal import Kind, Refusal
from .roster.projection import get_pegawai, get_sekolah


def forbidden(code: str, message: str) -> Refusal:
    return Refusal(code, message, Kind.FORBIDDEN)


def not_atasan() -> Refusal:
    return forbidden("V-10", "Anda bukan atasan langsung pegawai ini.")


def outside_area() -> Refusal:
    return forbidden("OUTSIDE_AREA", "Satuan pendidikan ini di luar wilayah Dinas Anda.")


def _in_area(principal: Principal, kode_wilayah: str) -> bool:
    return principal.area is not None and kode_wilayah.startswith(principal.area)


async def teacher_on_roster(conn: Executor, nip: str) -> asyncpg.Record:
    row = await get_pegawai(conn, nip)
    if row is None or not row["aktif"]:
        raise Refusal(
            "PEGAWAI_NOT_FOUND",
            "Pegawai tidak ditemukan pada data Dapodik. Hubungi Operator Sekolah.",
            Kind.NOT_FOUND,
        )
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
    teacher = await teacher_on_roster(conn, nip)
    if principal.role is Role.OPERATOR:
        return teacher
    if principal.role is Role.GURU:
        if principal.nip != nip:
            raise forbidden("NOT_OWN_RECORD", "Anda hanya dapat melihat data kinerja Anda sendiri.")
        return teacher
    if principal.role is Role.KEPALA_SEKOLAH:
        if principal.nip != nip and teacher["atasan_nip"] != principal.nip:
            raise not_atasan()
        return teacher
    school = await get_sekolah(conn, teacher["npsn"])
    area = school["kode_wilayah"] if school is not None else teacher["kode_wilayah"]
    if not _in_area(principal, area):
        raise outside_area()
    return teacher


async def authorize_school_read(conn: Executor, principal: Principal, npsn: str) -> asyncpg.Record:
    """The roster row of school ``npsn`` if ``principal`` may read its school-level facts: its
    Kepala Sekolah, the Dinas of its area, or an operator."""
    school = await school_on_roster(conn, npsn)
    if principal.role is Role.OPERATOR:
        return school
    if principal.role is Role.DINAS:
        if not _in_area(principal, school["kode_wilayah"]):
            raise outside_area()
        return school
    if principal.role is Role.KEPALA_SEKOLAH and principal.npsn == npsn:
        return school
    raise forbidden("ROLE_FORBIDDEN", "Anda tidak berwenang melihat data satuan pendidikan ini.")


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
    teacher = await teacher_on_roster(conn, nip)
    if teacher["atasan_nip"] != atasan:
        raise not_atasan()
    return teacher


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        names = ", ".join(r.value for r in roles)
        raise forbidden("ROLE_FORBIDDEN", f"Tindakan ini hanya untuk peran: {names}.")
