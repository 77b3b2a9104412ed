"""``kinerja-outbox`` as a person runs it, where it cannot do its work: one line, an exit code.
(What it does with set-aside rows is in test_outbox_set_aside.py.)"""

from __future__ import annotations

import secrets

import pytest

from kinerja_tools.testing.cli import closed_port, run_script
from kinerja_tools.testing.stack import Stack


def test_without_a_database_url_it_names_the_services_variable() -> None:
    ran = run_script("kinerja-outbox", "list", "bkn-sync", env={"BKN_SYNC_DATABASE_URL": None})

    line = ran.assert_one_line_error(2)
    assert line == "kinerja-outbox: BKN_SYNC_DATABASE_URL is not set (or pass --database-url)"


def test_an_unreachable_database_is_exit_3_naming_where_and_the_variable() -> None:
    with closed_port() as port:
        ran = run_script(
            "kinerja-outbox",
            "list",
            "planning",
            env={"PLANNING_DATABASE_URL": f"postgresql://planning:s3cret@127.0.0.1:{port}/kinerja"},
        )

    line = ran.assert_one_line_error(3)
    assert line == (
        f"kinerja-outbox: cannot connect to the database at 127.0.0.1:{port}/kinerja "
        "(PLANNING_DATABASE_URL): connection refused"
    )
    assert "s3cret" not in ran.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["discard", "planning", "12", "--actor", "rina"], "--reason"),
        (["discard", "planning", "12", "--actor", " ", "--reason", "x"], "must not be empty"),
        (["retry", "planning", "--actor", "rina", "--reason", "x"], "one of the arguments"),
        (["retry", "planning", "0", "--actor", "rina", "--reason", "x"], "not a row id"),
        (["list", "Planning!"], "not a service name"),
    ],
)
def test_bad_usage_is_exit_2_before_anything_is_asked(args: list[str], needle: str) -> None:
    with closed_port() as port:  # never asked
        ran = run_script(
            "kinerja-outbox", *args, env={"PLANNING_DATABASE_URL": f"postgresql://h:{port}/db"}
        )

    assert ran.code == 2, ran.stderr
    assert needle in ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.infra
def test_a_schema_without_an_outbox_is_refused(stack: Stack) -> None:
    schema = f"nothing_{secrets.token_hex(4)}"

    ran = run_script(
        "kinerja-outbox",
        "list",
        "planning",
        "--database-url",
        stack.pg_admin_dsn,
        "--schema",
        schema,
    )

    line = ran.assert_one_line_error(2, schema)
    assert "has no set-aside outbox" in line
