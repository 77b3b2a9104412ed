"""How a Kinerja process logs in to Kafka: PLAINTEXT, or SCRAM-SHA-512 over TLS (``SASL_SSL``)
as its own principal (docs/security.md, "Kafka").

The services take it from their settings (``<PREFIX>_KAFKA_SECURITY_PROTOCOL`` and the rest);
the command-line tools from the environment under a prefix of their own: ``kinerja-topics``
from ``KINERJA_KAFKA_*`` (the stack's admin locally), ``kinerja-roster`` from
``KINERJA_ROSTER_KAFKA_*`` (``roster-importer``, the only principal that may write the roster).

The password comes as a value (a Kubernetes Secret by reference) or as a file holding it (the
local stacks keep one per principal under ``.local/<stack>/kafka/users/``), so no env file
the stack writes holds a secret.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, SecretStr, model_validator

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

Protocol = Literal["PLAINTEXT", "SASL_SSL"]


class KafkaLoginError(ValueError):
    """A login that cannot work: said before any connection is tried."""


class KafkaLogin(BaseModel):
    security_protocol: Protocol = "PLAINTEXT"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    ca_file: str | None = None

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaLogin:
        if self.security_protocol == "SASL_SSL" and not (
            self.sasl_username and (self.sasl_password or self.sasl_password_file)
        ):
            raise KafkaLoginError("SASL_SSL needs a username and a password (or a password file)")
        return self

    @classmethod
    def from_env(cls, prefix: str, environ: Mapping[str, str] | None = None) -> KafkaLogin:
        """``<prefix>SECURITY_PROTOCOL``, ``<prefix>SASL_USERNAME``, ``<prefix>SASL_PASSWORD``
        or ``<prefix>SASL_PASSWORD_FILE``, ``<prefix>CA_FILE``; unset or empty: PLAINTEXT."""
        env = os.environ if environ is None else environ
        values = {
            field: env[f"{prefix}{field.upper()}"]
            for field in cls.model_fields
            if env.get(f"{prefix}{field.upper()}")
        }
        try:
            return cls.model_validate(values)
        except ValueError as exc:
            raise KafkaLoginError(f"{prefix}*: {exc}") from None

    @property
    def plaintext(self) -> bool:
        return self.security_protocol == "PLAINTEXT"

    def password(self) -> str:
        if self.sasl_password is not None:
            return self.sasl_password.get_secret_value()
        assert self.sasl_password_file is not None  # the validator's
        try:
            return self.sasl_password_file.read_text().strip()
        except OSError as exc:
            raise KafkaLoginError(
                f"cannot read the Kafka password file {self.sasl_password_file}: {exc.strerror}"
            ) from None

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of aiokafka's own clients (admin, producer, consumer); empty for
        PLAINTEXT, so a client built with them behaves as one built without."""
        if self.plaintext:
            return {}
        assert self.sasl_username  # the validator's
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": self.sasl_username,
            "sasl_plain_password": self.password(),
            "ssl_context": self.ssl_context(),
        }

    def faststream_security(self) -> BaseSecurity | None:
        """FastStream's security object for ``KafkaBroker(security=...)``; None: PLAINTEXT."""
        if self.plaintext:
            return None
        from faststream.security import SASLScram512

        assert self.sasl_username
        return SASLScram512(self.sasl_username, self.password(), ssl_context=self.ssl_context())
