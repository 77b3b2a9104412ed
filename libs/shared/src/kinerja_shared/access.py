"""Object-level authorisation from the token and the roster projection (DOMAIN.md §1.3).

A Guru reaches only their own records; a Kepala Sekolah only the teachers whose atasan they are
on the roster; a Dinas only the schools of its area; an operator reads everything and changes
nothing. Each refusal is a 403 with its own code.
"""

from __future__ import annotations

import asyncpg

from .auth import Principal, Role
from .db import Executor
from .errors import DomainError
from .roster.projection import get_pegawai, get_sekolah

NOT_ATASAN = DomainError("V-10", "Anda bukan atasan langsung pegawai ini.", 403)


def forbidden(code: str, message: str) -> DomainError:
    return DomainError(code, message, 403)


async def teacher_on_roster(conn: Executor, nip: str) -> asyncpg.Record:
    row = await get_pegawai(conn, nip)
    if row is None or not row["aktif"]:
        raise DomainError(
            "PEGAWAI_NOT_FOUND",
            "Pegawai tidak ditemukan pada data Dapodik. Hubungi Operator Sekolah.",
            404,
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
            raise NOT_ATASAN
        return teacher
    school = await get_sekolah(conn, teacher["npsn"])
    area = school["kode_wilayah"] if school is not None else teacher["kode_wilayah"]
    if principal.area is None or not area.startswith(principal.area):
        raise forbidden("OUTSIDE_AREA", "Satuan pendidikan ini di luar wilayah Dinas Anda.")
    return teacher


async def authorize_atasan(conn: Executor, principal: Principal, nip: str) -> asyncpg.Record:
    """The roster row of ``nip`` if ``principal`` is that teacher's atasan (and may act)."""
    if principal.role is not Role.KEPALA_SEKOLAH:
        raise forbidden("ROLE_FORBIDDEN", "Hanya Kepala Sekolah (atasan) yang dapat melakukan ini.")
    teacher = await teacher_on_roster(conn, nip)
    if teacher["atasan_nip"] != principal.nip:
        raise NOT_ATASAN
    return teacher


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        names = ", ".join(r.value for r in roles)
        raise forbidden("ROLE_FORBIDDEN", f"Tindakan ini hanya untuk peran: {names}.")
