"""School-level authorisation (DOMAIN.md §1.3); teacher-level checks use kinerja_shared.access."""

from __future__ import annotations

from typing import Any

from kinerja_shared.access import NOT_ATASAN, forbidden
from kinerja_shared.auth import Principal, Role
from kinerja_shared.errors import DomainError
from kinerja_shared.roster.projection import get_sekolah

from .domain.penetapan import RuleViolation
from .repository import Conn


async def school(conn: Conn, npsn: str) -> Any:
    row = await get_sekolah(conn, npsn)
    if row is None:
        raise DomainError(
            "SEKOLAH_NOT_FOUND",
            "Satuan pendidikan tidak ditemukan pada data Dapodik.",
            404,
        )
    return row


async def dinas_of(conn: Conn, principal: Principal, npsn: str) -> Any:
    """The school row if ``principal`` is the Dinas of its area."""
    if principal.role is not Role.DINAS:
        raise forbidden("ROLE_FORBIDDEN", "Hanya Dinas Pendidikan yang dapat melakukan ini.")
    row = await school(conn, npsn)
    _in_area(principal, row)
    return row


def _in_area(principal: Principal, row: Any) -> None:
    if principal.area is None or not row["kode_wilayah"].startswith(principal.area):
        raise forbidden("OUTSIDE_AREA", "Satuan pendidikan ini di luar wilayah Dinas Anda.")


async def read_school(conn: Conn, principal: Principal, npsn: str) -> Any:
    """KS of the school, its Dinas, or an operator may read school-level facts."""
    row = await school(conn, npsn)
    if principal.role is Role.OPERATOR:
        return row
    if principal.role is Role.DINAS:
        _in_area(principal, row)
        return row
    if principal.role is Role.KEPALA_SEKOLAH and principal.npsn == npsn:
        return row
    raise forbidden("ROLE_FORBIDDEN", "Anda tidak berwenang melihat data satuan pendidikan ini.")


def require_ks(principal: Principal) -> str:
    if principal.role is not Role.KEPALA_SEKOLAH or principal.nip is None:
        raise forbidden("ROLE_FORBIDDEN", "Hanya Kepala Sekolah (atasan) yang dapat melakukan ini.")
    return principal.nip


def atasan_of_any(nips: list[str]) -> None:
    if not nips:
        raise NOT_ATASAN


def as_domain(exc: RuleViolation) -> DomainError:
    return DomainError(exc.code, exc.message, exc.status, **exc.detail)
