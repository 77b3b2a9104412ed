"""Contract tests: snapshots of every topic's schema and the generated AsyncAPI document.

``pytest tests/contracts --update-contracts`` rewrites the snapshots and docs/asyncapi/ from the
models, but only for compatible changes: a breaking change to a ``.v<N>`` topic still fails,
because it needs a new major topic (docs/consuming-predikat.md, "Versioning").
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SNAPSHOTS = HERE / "snapshots"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-contracts",
        action="store_true",
        default=False,
        help="rewrite tests/contracts/snapshots and docs/asyncapi from the models "
        "(compatible changes only)",
    )


@pytest.fixture
def update_contracts(request: pytest.FixtureRequest) -> bool:
    # getoption with a default: the option is only registered when this conftest is loaded early
    # (``pytest tests/contracts``), not when pytest discovers it from the repository root.
    return bool(request.config.getoption("update_contracts", default=False))
