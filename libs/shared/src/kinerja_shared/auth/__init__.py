"""JWT bearer authentication for the Kinerja HTTP APIs.

Typical service wiring::

    from kinerja_shared.auth import (
        AuthSettings, Role, TokenVerifier, bearer_principal, install_auth_errors, require_roles,
    )

    verifier = TokenVerifier(AuthSettings(jwks_url=..., issuer=..., audience="kinerja"))
    current_principal = bearer_principal(verifier)
    dinas_only = require_roles(Role.DINAS, principal=current_principal)
    install_auth_errors(app)
"""

from kinerja_shared.auth.claims import Principal, Role
from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_shared.auth.verify import (
    AuthError,
    AuthErrorCode,
    AuthSettings,
    PrincipalDependency,
    TokenVerifier,
    auth_error_response,
    bearer_principal,
    install_auth_errors,
    parse_bearer,
    require_roles,
)

__all__ = [
    "AuthError",
    "AuthErrorCode",
    "AuthSettings",
    "DevIdentityProvider",
    "Principal",
    "PrincipalDependency",
    "Role",
    "TokenVerifier",
    "auth_error_response",
    "bearer_principal",
    "install_auth_errors",
    "parse_bearer",
    "require_roles",
]
