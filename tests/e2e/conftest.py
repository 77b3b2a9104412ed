from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from processes import System, running_system

from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_tools.testing.stack import REPO, Stack


@pytest.fixture(scope="session")
def idp(stack: Stack) -> DevIdentityProvider:
    # The stack's own identity provider: the services trust its JWKS.
    return DevIdentityProvider(Path(stack.env["KINERJA_DEV_IDP_DIR"]))


@pytest.fixture(scope="session")
def system(stack: Stack, idp: DevIdentityProvider) -> Iterator[System]:
    with running_system(stack, idp.jwks_url, REPO / ".local" / "test" / "e2e-logs") as running:
        yield running
