"""``bkn_sync serve`` and ``migrate`` against the test stack's database when it refuses the
login: one line naming the variable (not the password), exit status 3, no traceback."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from kinerja_shared.cli_errors import EXIT_UNREACHABLE
from kinerja_tools.testing.cli import run_script
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra


def _with_password(dsn: str, password: str) -> str:
    parts = urlsplit(dsn)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_a_wrong_database_password_says_so_without_the_password(stack: Stack, command: str) -> None:
    dsn = _with_password(stack.dsn_for("bkn_sync"), "not-the-password")

    ran = run_script(
        "bkn_sync",
        command,
        env={
            "BKN_SYNC_DATABASE_URL": dsn,
            "BKN_SYNC_JWT_JWKS_URL": stack.env["BKN_SYNC_JWT_JWKS_URL"],
        },
    )

    parts = urlsplit(dsn)
    line = ran.assert_one_line_error(
        EXIT_UNREACHABLE,
        f"cannot connect to the database at {parts.hostname}:{parts.port}/kinerja",
        "(BKN_SYNC_DATABASE_URL)",
        "password authentication failed",
    )
    assert "not-the-password" not in line
