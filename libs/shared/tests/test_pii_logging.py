"""No NIP reaches a log line: the keyed token (kinerja_shared.pii), the logging filter that puts
it in every part of a record, and uvicorn's access line switched off."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from kinerja_shared import pii
from kinerja_shared.logging import NipRedactor, setup_logging

NIP = "198609262015051001"
OTHER = "199001012015052002"


@pytest.fixture(autouse=True)
def dev_key() -> Iterator[None]:
    pii.configure(None, dev=True)
    yield
    pii.configure(None, dev=True)


def test_a_token_is_stable_keyed_and_not_the_nip() -> None:
    token = pii.nip_token(NIP)

    assert token == pii.nip_token(NIP)
    assert token.startswith("nip#")
    assert len(token) == len("nip#") + 16
    assert NIP not in token
    assert pii.nip_token(OTHER) != token
    assert pii.nip_token(NIP, b"production key") != token


def test_outside_dev_without_a_key_every_nip_is_hidden_alike() -> None:
    pii.configure(None, dev=False)

    assert pii.redact(f"{NIP} and {OTHER}") == f"{pii.REDACTED} and {pii.REDACTED}"


def test_the_configured_key_is_used() -> None:
    pii.configure("s3cret", dev=False)

    assert pii.redact(NIP) == pii.nip_token(NIP, b"s3cret")


@pytest.mark.parametrize(
    "text",
    [
        f"/observations/{NIP}/2025",
        f"nip={NIP}&period=2025",
        f"PREDIKAT:{NIP}:2025:1",
        f'{{"nip": "{NIP}"}}',
        f"{NIP}",
    ],
)
def test_a_nip_anywhere_in_text_is_replaced(text: str) -> None:
    redacted = pii.redact(text)

    assert NIP not in redacted
    assert pii.nip_token(NIP) in redacted


@pytest.mark.parametrize(
    "text",
    [
        "1986092620150510011",  # 19 digits: a timestamp in ns, not a NIP
        "0af7651916cd43dd8448eb211c80319c",  # a trace id
        "4bf92f3577b34da6a3ce929d0e0e4736198609262015051001",  # digits inside hex
        "19860926201505100",  # 17 digits
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert pii.redact(text) == text


def test_nested_values_are_redacted_and_untouched_ones_kept_as_they_are() -> None:
    value = {"nips": [NIP, "x"], "deep": {NIP: ("a", NIP)}, "n": 3}
    clean = {"a": ["b"], "n": 3}

    redacted = pii.redact_value(value)

    assert NIP not in json.dumps(redacted)
    assert redacted["n"] == 3
    assert pii.redact_value(clean) is clean


def _capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    # Formatter.format appends the exception text after the message.
    handler.setFormatter(logging.Formatter("%(message)s|%(extra_nip)s"))
    handler.addFilter(NipRedactor())
    logger = logging.getLogger(f"test.pii.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_the_filter_redacts_message_arguments_extras_and_exception_text() -> None:
    logger, stream = _capture()

    try:
        raise ValueError(f"duplicate key (nip)=({NIP})")
    except ValueError:
        logger.exception(
            "refused %s for teacher %s", "GET", NIP, extra={"extra_nip": {"who": [NIP]}}
        )

    line = stream.getvalue()
    assert NIP not in line
    assert line.count(pii.nip_token(NIP)) == 3, line
    assert "refused GET for teacher" in line


def test_setup_logging_writes_json_lines_without_nips_and_keeps_json_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("INFO")
    logging.getLogger("test.pii.json").info("plan of %s", NIP, extra={"subject": NIP})

    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == f"plan of {pii.nip_token(NIP)}"
    assert record["subject"] == pii.nip_token(NIP)
    assert NIP not in line


def test_uvicorns_access_line_with_the_raw_path_is_switched_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("INFO")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/deliveries/{NIP}", "1.1", 200
    )
    logging.getLogger("test.pii.after").info("still logging")

    err = capsys.readouterr().err
    assert "/deliveries/" not in err
    assert "still logging" in err


def test_the_cli_prints_the_token_an_sre_searches_for() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kinerja_shared.pii", NIP],
        env={pii.KEY_ENV: "prod-key"},
        capture_output=True,
        text=True,
        check=True,
    )

    assert done.stdout == f"{NIP}\t{pii.nip_token(NIP, b'prod-key')}\n"


def test_the_cli_refuses_to_guess_a_key() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kinerja_shared.pii", NIP],
        env={},
        capture_output=True,
        text=True,
    )

    assert done.returncode == 2
    assert pii.KEY_ENV in done.stderr


def test_two_nip_keys_hidden_alike_do_not_break_logging() -> None:
    pii.configure(None, dev=False)
    logger, stream = _capture()

    logger.info("x", extra={"extra_nip": {NIP: 1, OTHER: 2}})

    assert pii.REDACTED in stream.getvalue()
    assert NIP not in stream.getvalue()


class _Unreadable(dict[str, str]):
    def items(self) -> Any:
        raise RuntimeError("cannot be read")


def test_a_record_that_cannot_be_redacted_is_withheld_not_written_or_raised() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(NipRedactor())
    logger = logging.getLogger("test.pii.withheld")
    logger.handlers[:] = [handler]
    logger.propagate = False

    logger.warning("teacher %s", NIP, extra={"odd": _Unreadable()})

    assert stream.getvalue().startswith("log line withheld")
    assert NIP not in stream.getvalue()
