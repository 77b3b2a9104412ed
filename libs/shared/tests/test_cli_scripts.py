"""The shared library's console scripts as a person runs them: kinerja-roster, kinerja-topics and
kinerja-dev-token, each a real process of the installed script, with no infrastructure."""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from kinerja_shared.auth import devtoken
from kinerja_shared.roster import cli as roster_cli
from kinerja_shared.roster import dapodik
from kinerja_shared.roster.generator import DistrictShape, generate
from kinerja_shared.topics_cli import _parser as topics_parser
from kinerja_tools.testing.cli import BIN, closed_port, run_script

EXPECTED_HEADER = ",".join(dapodik.COLUMNS)


@pytest.fixture
def district(tmp_path: Path) -> Path:
    path = tmp_path / "district.csv"
    dapodik.write(path, generate(DistrictShape(schools=2), seed=5))
    return path


# --- kinerja-roster import: what a file can get wrong --------------------------------------------


def test_a_wrong_header_is_one_line_naming_expected_and_found_columns(tmp_path: Path) -> None:
    path = tmp_path / "ptk.csv"
    path.write_text("npsn,nama_sekolah,nip,nama,jabatan\n20100001,SD 1,198609262015051001,A,G\n")

    ran = run_script("kinerja-roster", "import", str(path), "--dry-run")

    line = ran.assert_one_line_error(2, str(path), "wrong header")
    assert f"expected columns {EXPECTED_HEADER};" in line
    assert "found npsn,nama_sekolah,nip,nama,jabatan" in line
    assert "missing: kode_wilayah,naungan,jenis_ptk,status_kepegawaian" in line
    assert ran.stdout == ""


def test_a_wrong_header_stops_the_import_before_any_broker_is_asked(tmp_path: Path) -> None:
    path = tmp_path / "ptk.csv"
    path.write_text("a;b;c\n1;2;3\n")

    with closed_port() as port:
        ran = run_script(
            "kinerja-roster",
            "import",
            str(path),
            env={"KINERJA_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"},
        )

    ran.assert_one_line_error(2, "wrong header", "found a;b;c")


def test_a_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"

    ran = run_script("kinerja-roster", "import", str(path))

    assert ran.assert_one_line_error(2) == f"kinerja-roster: {path}: no such file"


def test_an_empty_file_and_a_file_that_is_not_utf8_are_one_line_each(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(EXPECTED_HEADER.encode() + b"\n20100001,SD Cipayung \xe9\n")

    run_script("kinerja-roster", "import", str(empty)).assert_one_line_error(
        2, "empty file", EXPECTED_HEADER
    )
    run_script("kinerja-roster", "import", str(latin), "--dry-run").assert_one_line_error(
        2, "not UTF-8"
    )


def test_a_header_saved_by_a_spreadsheet_is_still_the_right_header(
    tmp_path: Path, district: Path
) -> None:
    path = tmp_path / "excel.csv"
    header, rest = district.read_text().split("\n", 1)
    spaced = ",".join(f" {name.upper()} " for name in header.split(","))
    path.write_bytes(b"\xef\xbb\xbf" + f"{spaced}\n{rest}".encode())

    ran = run_script("kinerja-roster", "import", str(path), "--dry-run")

    assert ran.code == 0, ran.stderr
    assert ran.stdout.startswith(f"valid: {len(rest.splitlines())} PTK, 2 schools; refused: 0")


def test_a_file_without_a_valid_row_lists_each_and_publishes_nothing(
    tmp_path: Path, district: Path
) -> None:
    path = tmp_path / "bad-nips.csv"
    header, first, second = district.read_text().splitlines()[:3]
    broken = [
        ",".join(f if i != 4 else f[:17] for i, f in enumerate(row.split(",")))
        for row in (first, second)
    ]
    path.write_text("\n".join([header, *broken]) + "\n")

    with closed_port() as port:  # never asked: there is nothing to publish
        ran = run_script(
            "kinerja-roster",
            "import",
            str(path),
            env={"KINERJA_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"},
        )

    assert ran.code == 1
    assert "Traceback" not in ran.stderr
    assert [line.split(": ")[0] for line in ran.stderr_lines] == [f"{path}:2", f"{path}:3"]
    assert all("NIP tidak valid" in line for line in ran.stderr_lines)
    assert ran.stdout == "nothing published: no valid row; refused 2 rows\n"


# --- unreachable broker ------------------------------------------------------------------------


ROSTER_LOGIN = [
    f"KINERJA_ROSTER_KAFKA_{v}"
    for v in ("SECURITY_PROTOCOL", "SASL_USERNAME", "SASL_PASSWORD", "SASL_PASSWORD_FILE")
]


def test_import_with_the_broker_unreachable_names_the_variable_exit_3(district: Path) -> None:
    with closed_port() as port:
        ran = run_script(
            "kinerja-roster",
            "import",
            str(district),
            # No login set, as in a shell that has not sourced the dev stack's env.sh.
            env={
                "KINERJA_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
                **dict.fromkeys(ROSTER_LOGIN, None),
            },
        )

    line = ran.assert_one_line_error(3)
    assert line == (
        f"kinerja-roster: cannot connect to the Kafka broker at 127.0.0.1:{port} "
        "(KINERJA_KAFKA_BOOTSTRAP): no broker answered; if it takes logins only (the dev "
        "stack's does), set KINERJA_ROSTER_KAFKA_SECURITY_PROTOCOL and the rest "
        "(source deploy/local/env.sh)"
    )
    assert ran.stdout == ""


def test_import_with_an_unreachable_bootstrap_option_names_the_option(district: Path) -> None:
    with closed_port() as port:
        ran = run_script(
            "kinerja-roster", "import", str(district), "--bootstrap", f"127.0.0.1:{port}"
        )

    ran.assert_one_line_error(3, f"127.0.0.1:{port}", "(--bootstrap)")


def test_topics_create_with_the_broker_unreachable_names_the_variable_exit_3() -> None:
    with closed_port() as port:
        ran = run_script(
            "kinerja-topics", "create", env={"KINERJA_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}
        )

    ran.assert_one_line_error(
        3,
        "kinerja-topics: cannot connect to the Kafka broker",
        f"127.0.0.1:{port}",
        "(KINERJA_KAFKA_BOOTSTRAP)",
    )


def test_topics_list_needs_no_broker() -> None:
    with closed_port() as port:
        ran = run_script(
            "kinerja-topics", "list", env={"KINERJA_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}
        )

    assert (ran.code, ran.stderr) == (0, "")
    assert "kinerja.roster.pegawai.v1\t" in ran.stdout


# --- progress ----------------------------------------------------------------------------------


def _run_on_a_terminal(*argv: str) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal of 100 columns; returns (code, stdout, terminal)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    return proc.wait(timeout=60), out, seen.decode()


def test_on_a_terminal_the_import_shows_a_bar_with_count_rate_and_eta(
    tmp_path: Path,
) -> None:
    path = tmp_path / "district.csv"
    rows = dapodik.write(path, generate(DistrictShape(schools=30), seed=2))

    code, out, terminal = _run_on_a_terminal(
        str(BIN / "kinerja-roster"), "import", str(path), "--dry-run"
    )

    assert code == 0, terminal
    final = terminal.replace("\r\n", "\n").split("\r")[-1]
    assert final.startswith("validating: 100%|"), terminal
    assert f"| {rows}/{rows} [" in final  # count
    assert "<00:00," in final  # elapsed<remaining, the ETA
    assert "rows/s]" in final  # rate
    assert out.startswith(f"valid: {rows} PTK")


def test_off_a_terminal_there_is_no_bar_only_the_summary(district: Path) -> None:
    ran = run_script("kinerja-roster", "import", str(district), "--dry-run")

    assert (ran.code, ran.stderr) == (0, "")
    assert ran.stdout.startswith("valid: ")
    assert "refused: 0 rows; checked in " in ran.stdout


# --- --help ------------------------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def _assert_every_option_explained(parser: argparse.ArgumentParser, help_text: str) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        assert action.help, f"{parser.prog}: {action.option_strings or action.dest} has no help"
        for option in action.option_strings:
            assert option in help_text, (parser.prog, option)


def test_roster_help_lists_each_command_and_explains_every_option() -> None:
    top = run_script("kinerja-roster", "--help")

    assert top.code == 0
    lines = top.stdout.splitlines()
    for name, sub in _subparsers(roster_cli._parser()).items():
        assert any(line.split()[:1] == [name] and len(line.split()) > 2 for line in lines), name
        ran = run_script("kinerja-roster", name, "--help")
        assert ran.code == 0
        _assert_every_option_explained(sub, ran.stdout)
        assert "examples:" in ran.stdout
        assert "exit status:" in ran.stdout
    assert "(default: 20)" in run_script("kinerja-roster", "generate", "--help").stdout
    imp = run_script("kinerja-roster", "import", "--help").stdout
    assert "$KINERJA_KAFKA_BOOTSTRAP" in imp
    assert EXPECTED_HEADER in imp
    assert "  3  a dependency" in imp


def test_topics_and_dev_token_help_explain_every_option() -> None:
    topics = run_script("kinerja-topics", "--help")
    token = run_script("kinerja-dev-token", "--help")
    jwks = run_script("kinerja-dev-token", "jwks-path", "--help")

    assert (topics.code, token.code, jwks.code) == (0, 0, 0)
    _assert_every_option_explained(topics_parser(), topics.stdout)
    _assert_every_option_explained(devtoken._mint_parser(), token.stdout)
    _assert_every_option_explained(devtoken._jwks_parser(), jwks.stdout)
    assert "create:" in topics.stdout
    assert "list:" in topics.stdout
    for text in (topics.stdout, token.stdout, jwks.stdout):
        assert "exit status:" in text
    assert "jwks-path" in token.stdout


def test_bad_usage_is_exit_2_without_a_traceback() -> None:
    for argv in (
        ("kinerja-roster",),
        ("kinerja-roster", "generate", "--schools", "0", "--out", "x.csv"),
        ("kinerja-roster", "generate", "--kode-wilayah", "DKI", "--out", "x.csv"),
        ("kinerja-topics", "delete"),
        ("kinerja-dev-token", "--role", "guru"),
    ):
        ran = run_script(*argv)
        assert ran.code == 2, argv
        assert "Traceback" not in ran.stderr, argv


def test_generate_into_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "district.csv"

    ran = run_script("kinerja-roster", "generate", "--schools", "1", "--out", str(out))

    ran.assert_one_line_error(2, f"cannot write {out}")


def test_a_dev_token_key_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    ran = run_script(
        "kinerja-dev-token", "--role", "operator", env={"KINERJA_DEV_IDP_DIR": str(blocker)}
    )

    ran.assert_one_line_error(2, "cannot use the key directory", "KINERJA_DEV_IDP_DIR")
