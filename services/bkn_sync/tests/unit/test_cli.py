"""``bkn_sync`` as a person types it: every command in --help, and one line with exit status 2 or
3 (never a traceback) when input is wrong or the database or the API cannot be reached. Each
case runs the installed console script as a process; none needs the test stack."""

from __future__ import annotations

import argparse
import io

import httpx
import pytest

from bkn_sync import ops
from kinerja_shared.cli import build_parser
from kinerja_shared.cli_errors import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE, CliError
from kinerja_tools.testing.cli import closed_port, run_script

SCRIPT = "bkn_sync"
NIP = "198609262015051001"
# Enough for the settings to load; nothing here gets as far as reading the JWKS.
BASE_ENV = {"BKN_SYNC_JWT_JWKS_URL": "file:///nonexistent/jwks.json"}


def _parser() -> argparse.ArgumentParser:
    return build_parser(SCRIPT, "BKN_SYNC_", ops.commands(58005))


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


# --- --help ------------------------------------------------------------------------------------


def test_help_lists_every_command_with_a_one_line_description() -> None:
    ran = run_script(SCRIPT, "--help")

    assert (ran.code, ran.stderr) == (0, "")
    rows = {line.split()[0]: line for line in ran.stdout.splitlines() if line.startswith("    ")}
    for name in ("serve", "migrate", "redrive", "deliveries"):
        assert name in rows, ran.stdout
        assert len(rows[name].split()) > 3, f"{name} has no description on its line"
    assert set(_subparsers()) == {"serve", "migrate", "redrive", "deliveries"}
    assert "exit status:" in ran.stdout
    assert "  3  a dependency" in ran.stdout


@pytest.mark.parametrize("command", ["serve", "migrate", "redrive", "deliveries"])
def test_each_command_help_explains_every_option(command: str) -> None:
    parser = _subparsers()[command]

    ran = run_script(SCRIPT, command, "--help")

    assert ran.code == 0
    assert "exit status:" in ran.stdout
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.option_strings} has no help"
        for option in action.option_strings:
            assert option in ran.stdout, (command, option)


@pytest.mark.parametrize("command", ["redrive", "deliveries"])
def test_operator_command_help_names_its_environment_and_an_example(command: str) -> None:
    ran = run_script(SCRIPT, command, "--help")

    assert "BKN_SYNC_API_URL" in ran.stdout
    assert "BKN_SYNC_OPERATOR_TOKEN" in ran.stdout
    assert f"examples:\n  {SCRIPT} {command} " in ran.stdout


# --- unreachable database ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_an_unreachable_database_is_one_line_naming_the_variable_exit_3(command: str) -> None:
    with closed_port() as port:
        ran = run_script(
            SCRIPT,
            command,
            env={
                **BASE_ENV,
                "BKN_SYNC_DATABASE_URL": f"postgresql://bkn_sync:s3cret@127.0.0.1:{port}/kinerja",
            },
        )

    line = ran.assert_one_line_error(EXIT_UNREACHABLE)
    assert line == (
        f"bkn_sync: cannot connect to the database at 127.0.0.1:{port}/kinerja "
        "(BKN_SYNC_DATABASE_URL): connection refused"
    )
    assert "s3cret" not in ran.stderr


def test_unset_settings_are_one_line_naming_each_variable_exit_2() -> None:
    ran = run_script(
        SCRIPT, "migrate", env={"BKN_SYNC_DATABASE_URL": None, "BKN_SYNC_JWT_JWKS_URL": None}
    )

    ran.assert_one_line_error(
        EXIT_USAGE, "BKN_SYNC_DATABASE_URL is not set", "BKN_SYNC_JWT_JWKS_URL is not set"
    )


# --- unreachable API (operator commands) -------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [("deliveries", "--nip", NIP), ("redrive", "--reason", "BKN-E03"), ("redrive", "--apply")],
)
def test_an_unreachable_api_is_one_line_naming_the_variable_exit_3(argv: tuple[str, ...]) -> None:
    with closed_port() as port:
        ran = run_script(
            SCRIPT,
            *argv,
            env={
                "BKN_SYNC_API_URL": f"http://127.0.0.1:{port}",
                "BKN_SYNC_OPERATOR_TOKEN": "any-token",
            },
        )

    line = ran.assert_one_line_error(EXIT_UNREACHABLE)
    assert line == (
        f"bkn_sync: cannot connect to the bkn-sync API at http://127.0.0.1:{port} "
        "(BKN_SYNC_API_URL): connection refused"
    )
    assert ran.stdout == ""


def test_without_api_url_the_local_port_is_tried_and_still_named() -> None:
    with closed_port() as port:
        ran = run_script(
            SCRIPT,
            "deliveries",
            "--nip",
            NIP,
            env={
                "BKN_SYNC_API_URL": None,
                "BKN_SYNC_HTTP_PORT": str(port),
                "BKN_SYNC_OPERATOR_TOKEN": "any-token",
            },
        )

    ran.assert_one_line_error(EXIT_UNREACHABLE, f"http://127.0.0.1:{port}", "(BKN_SYNC_API_URL)")


def test_a_missing_operator_token_is_one_line_exit_2() -> None:
    ran = run_script(
        SCRIPT, "redrive", env={"BKN_SYNC_OPERATOR_TOKEN": None, "BKN_SYNC_API_URL": None}
    )

    ran.assert_one_line_error(EXIT_USAGE, "BKN_SYNC_OPERATOR_TOKEN is not set")


def test_an_api_url_that_is_not_http_is_one_line_exit_2() -> None:
    ran = run_script(
        SCRIPT,
        "deliveries",
        "--nip",
        NIP,
        env={"BKN_SYNC_API_URL": "ftp://bkn-sync", "BKN_SYNC_OPERATOR_TOKEN": "any-token"},
    )

    ran.assert_one_line_error(EXIT_USAGE, "BKN_SYNC_API_URL is not an http(s) URL")


def test_bad_usage_is_argparse_exit_2_without_a_traceback() -> None:
    for argv in ((), ("redrive", "--state", "DELIVERED"), ("deliveries",), ("nonsense",)):
        ran = run_script(SCRIPT, *argv)
        assert ran.code == EXIT_USAGE, argv
        assert "Traceback" not in ran.stderr


# --- what the API answers ----------------------------------------------------------------------


def _answering(status: int, body: object) -> httpx.AsyncClient:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://svc")


@pytest.mark.parametrize(
    ("status", "body", "code", "needles"),
    [
        (
            401,
            {"code": "AUTH_INVALID", "message": "Token tidak valid", "correlation_id": "c0ffee"},
            EXIT_USAGE,
            ("HTTP 401", "AUTH_INVALID Token tidak valid", "c0ffee", "BKN_SYNC_OPERATOR_TOKEN"),
        ),
        (
            403,
            {"code": "FORBIDDEN", "message": "Bukan operator", "correlation_id": "c1"},
            EXIT_USAGE,
            ("HTTP 403", "role operator"),
        ),
        (
            422,
            {
                "code": "VALIDATION_ERROR",
                "message": "Data yang dikirim tidak valid.",
                "errors": [{"loc": ["query", "nip"], "msg": "String should match pattern"}],
            },
            EXIT_USAGE,
            ("HTTP 422", "query.nip: String should match pattern"),
        ),
        (503, {"code": "UNAVAILABLE", "message": "database down"}, EXIT_UNREACHABLE, ("503",)),
        (500, "oops", EXIT_FAILED, ("HTTP 500",)),
    ],
)
async def test_an_http_error_is_one_line_with_the_api_code_and_message(
    status: int, body: object, code: int, needles: tuple[str, ...]
) -> None:
    args = ops.parser().parse_args(["deliveries", "--nip", NIP])
    out = io.StringIO()

    async with _answering(status, body) as client:
        with pytest.raises(CliError) as caught:
            await ops.run(args, client, out)

    assert caught.value.exit_code == code
    assert "\n" not in str(caught.value)
    for needle in needles:
        assert needle in str(caught.value)
    assert out.getvalue() == ""
