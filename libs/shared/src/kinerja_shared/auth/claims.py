"""Who is calling: the roles of the PKG cycle and the verified identity (`Principal`).

Token claims (besides the registered ``iss``, ``aud``, ``exp``, ``iat``):

=========  ============================================================================
``sub``    stable account id at the identity provider (Akun belajar.id)
``role``   one of `Role`
``nip``    NIP, 18 digits; required for ``guru`` and ``kepala_sekolah``
``npsn``   NPSN of the school, 8 characters; required for ``guru`` and ``kepala_sekolah``
``area``   kode wilayah of the Dinas (``31`` province, ``3171`` kab/kota); required for
           ``dinas``
``name``   display name, optional
=========  ============================================================================

Scope fields are tied to the role so that downstream code can rely on them: a ``guru`` or
``kepala_sekolah`` never carries ``area``, a ``dinas`` never carries ``npsn``.  ``operator``
has no required scope (the lead decides what an operator may see).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

__all__ = ["Area", "Nip", "Npsn", "Principal", "Role"]


class Role(StrEnum):
    """Role of the caller in the teacher performance cycle."""

    GURU = "guru"
    KEPALA_SEKOLAH = "kepala_sekolah"
    DINAS = "dinas"
    OPERATOR = "operator"


SCHOOL_ROLES: frozenset[Role] = frozenset({Role.GURU, Role.KEPALA_SEKOLAH})

Nip = Annotated[str, StringConstraints(pattern=r"^[0-9]{18}$")]
"""Nomor Induk Pegawai: 18 digits (birth date, appointment month, gender, serial)."""

Npsn = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{8}$")]
"""Nomor Pokok Sekolah Nasional: 8 characters (digits, some with a letter prefix)."""

Area = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}(?:[0-9]{2})?$")]
"""Kode wilayah (Kemendagri) of a Dinas: 2 digits (provinsi) or 4 digits (kabupaten/kota)."""


class Principal(BaseModel):
    """The verified caller, built from the claims of a valid token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    role: Role
    nip: Nip | None = None
    npsn: Npsn | None = None
    area: Area | None = None
    name: Annotated[str, StringConstraints(max_length=255)] | None = None

    @model_validator(mode="after")
    def _scope_matches_role(self) -> Self:
        if self.role in SCHOOL_ROLES:
            if self.nip is None or self.npsn is None:
                raise ValueError(f"role {self.role} requires nip and npsn")
            if self.area is not None:
                raise ValueError(f"role {self.role} must not carry area")
        elif self.role is Role.DINAS:
            if self.area is None:
                raise ValueError("role dinas requires area")
            if self.npsn is not None:
                raise ValueError("role dinas must not carry npsn")
        return self

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        """Build from verified JWT claims; raises `pydantic.ValidationError` when malformed."""
        return cls.model_validate(
            {
                "subject": claims.get("sub"),
                "role": claims.get("role"),
                "nip": claims.get("nip"),
                "npsn": claims.get("npsn"),
                "area": claims.get("area"),
                "name": claims.get("name"),
            }
        )

    def to_claims(self) -> dict[str, str]:
        """The non-registered claims for this principal (``None`` values left out)."""
        claims: dict[str, str] = {"sub": self.subject, "role": self.role.value}
        for key in ("nip", "npsn", "area", "name"):
            value = getattr(self, key)
            if value is not None:
                claims[key] = value
        return claims
