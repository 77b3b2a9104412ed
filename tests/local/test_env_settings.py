"""deploy/local/env.sh honours what the user exported and derives the rest.

Each case sources env.sh in a clean bash from a copy of deploy/local (env.sh writes the stack's
env file under its checkout, which must not be the one the running test stack reads).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "deploy" / "local", tmp_path / "deploy" / "local")
    return tmp_path


def _bash(checkout: Path, script: str, **env: str) -> dict[str, str]:
    """Runs `script` with env.sh at hand; returns the KEY=VALUE lines it prints."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=checkout,
        env={"PATH": os.environ["PATH"], "HOME": str(checkout), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


SHOW = 'echo "URL=$BKN_SYNC_EKINERJA_URL"; kinerja_simulator_wanted && echo SIM=yes || echo SIM=no'


def test_a_user_set_ekinerja_url_is_kept_and_the_simulator_is_not_wanted(checkout: Path) -> None:
    out = _bash(
        checkout,
        f"source deploy/local/env.sh; {SHOW}; cat .local/dev/env",
        BKN_SYNC_EKINERJA_URL="https://ekinerja.staging.internal",
    )
    assert out["URL"] == "https://ekinerja.staging.internal"
    assert out["SIM"] == "no"
    assert out["BKN_SYNC_EKINERJA_URL"] == "https://ekinerja.staging.internal"


def test_without_a_user_value_bkn_sync_points_at_the_simulator(checkout: Path) -> None:
    out = _bash(checkout, f"source deploy/local/env.sh; {SHOW}")
    assert out["URL"] == "http://127.0.0.1:58010"
    assert out["SIM"] == "yes"


def test_a_derived_value_follows_a_port_change_on_the_next_sourcing(checkout: Path) -> None:
    out = _bash(
        checkout,
        "source deploy/local/env.sh; EKINERJA_SIM_HTTP_PORT=58111; "
        f"source deploy/local/env.sh; {SHOW}",
    )
    assert out["URL"] == "http://127.0.0.1:58111"
    assert out["SIM"] == "yes"


def test_a_value_the_user_changes_after_sourcing_survives_the_next_sourcing(
    checkout: Path,
) -> None:
    out = _bash(
        checkout,
        "source deploy/local/env.sh; export BKN_SYNC_EKINERJA_URL=http://127.0.0.1:9/x; "
        "export PLANNING_DATABASE_URL=postgresql://me@db.internal/kinerja; "
        f'source deploy/local/env.sh; {SHOW}; echo "DB=$PLANNING_DATABASE_URL"',
    )
    assert out["URL"] == "http://127.0.0.1:9/x"
    assert out["SIM"] == "no"
    assert out["DB"] == "postgresql://me@db.internal/kinerja"


def test_switching_stacks_drops_the_other_stacks_derived_values_only(checkout: Path) -> None:
    out = _bash(
        checkout,
        "source deploy/local/env.sh; export OTEL_TRACES_EXPORTER=none; "
        "KINERJA_STACK=test; source deploy/local/env.sh; "
        f'{SHOW}; echo "PG=$KINERJA_PG_PORT"; echo "OTEL=$OTEL_TRACES_EXPORTER"',
    )
    assert out["PG"] == "56432"
    assert out["URL"] == "http://127.0.0.1:59010"
    assert out["OTEL"] == "none"


LOGINS = (
    "for v in PLANNING_KAFKA_SECURITY_PROTOCOL PLANNING_KAFKA_SASL_USERNAME "
    "BKN_SYNC_KAFKA_SASL_USERNAME BKN_SYNC_KAFKA_SASL_PASSWORD_FILE KINERJA_KAFKA_SASL_USERNAME "
    'KINERJA_ROSTER_KAFKA_SASL_USERNAME CONSOLE_KAFKA_CA_FILE; do echo "$v=${!v-unset}"; done'
)


def test_the_dev_stack_logs_each_client_in_as_its_own_principal_with_no_secret_in_the_env(
    checkout: Path,
) -> None:
    out = _bash(checkout, f"source deploy/local/env.sh; {LOGINS}; cat .local/dev/env")
    assert out["PLANNING_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert out["PLANNING_KAFKA_SASL_USERNAME"] == "planning"
    assert out["BKN_SYNC_KAFKA_SASL_USERNAME"] == "bkn-sync"
    users = checkout / ".local" / "dev" / "kafka" / "users"
    assert out["BKN_SYNC_KAFKA_SASL_PASSWORD_FILE"] == str(users / "bkn-sync")
    assert out["KINERJA_KAFKA_SASL_USERNAME"] == "kinerja-admin"
    assert out["KINERJA_ROSTER_KAFKA_SASL_USERNAME"] == "roster-importer"
    assert out["CONSOLE_KAFKA_CA_FILE"] == str(checkout / ".local/dev/kafka/tls/ca.crt")
    # the env file names the password files and holds no password
    written = (checkout / ".local" / "dev" / "env").read_text()
    assert "KAFKA_SASL_PASSWORD=" not in written
    assert f"PREDIKAT_KAFKA_SASL_PASSWORD_FILE={users / 'predikat'}" in written


def test_the_test_stack_and_a_user_who_turns_sasl_off_get_the_plain_listener(
    checkout: Path,
) -> None:
    for env in ({"KINERJA_STACK": "test"}, {"KINERJA_KAFKA_SASL": "0"}):
        out = _bash(checkout, f"source deploy/local/env.sh; {LOGINS}", **env)
        assert out["PLANNING_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
        assert out["PLANNING_KAFKA_SASL_USERNAME"] == "unset"
        assert out["KINERJA_ROSTER_KAFKA_SASL_USERNAME"] == "unset"
    # and back from the dev stack's logins in the same shell
    out = _bash(
        checkout,
        f"source deploy/local/env.sh; KINERJA_STACK=test; source deploy/local/env.sh; {LOGINS}",
    )
    assert out["PLANNING_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert out["BKN_SYNC_KAFKA_SASL_PASSWORD_FILE"] == "unset"
