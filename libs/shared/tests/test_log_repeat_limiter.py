"""The Kafka client's reconnect loops cannot flood the logs: one line per kind and interval."""

from __future__ import annotations

import io
import json
import logging

import pytest

from kinerja_shared.logging import RepeatLimiter, setup_logging


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _record(name: str, msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_reconnect_loop_passes_once_per_interval_with_the_count_held_back() -> None:
    clock = Clock()
    limiter = RepeatLimiter(interval=30, clock=clock)
    template = "Unable connect to node with id %s: %s"

    passed = []
    for i in range(200):
        clock.now += 0.25  # 50 s of a loop that logs 4 times a second
        record = _record("aiokafka", template, 1, f"refused #{i}")
        if limiter.filter(record):
            passed.append(record)

    assert len(passed) == 2
    assert not hasattr(passed[0], "repeated")
    assert passed[1].repeated == 119  # every record between the first and the one 30 s later


def test_each_kind_has_its_own_allowance() -> None:
    limiter = RepeatLimiter(interval=30, clock=Clock())
    kinds = [
        ("aiokafka", "Unable connect to node with id %s: %s"),
        ("aiokafka", "Unable to update metadata from %s"),
        ("aiokafka.consumer.fetcher", "Failed fetch messages from %s: %s"),
    ]
    first = [limiter.filter(_record(name, msg, 1, 2)) for name, msg in kinds]
    again = [limiter.filter(_record(name, msg, 1, 2)) for name, msg in kinds]
    assert first == [True, True, True]
    assert again == [False, False, False]


@pytest.mark.parametrize(
    ("name", "level"),
    [("planning.api", logging.ERROR), ("aiokafka", logging.INFO), ("kinerja_shared.inbox", 40)],
)
def test_the_services_own_lines_and_the_clients_info_lines_are_never_held_back(
    name: str, level: int
) -> None:
    limiter = RepeatLimiter(interval=30, clock=Clock())
    assert all(limiter.filter(_record(name, "same line", level=level)) for _ in range(50))


def test_setup_logging_installs_the_limiter_on_the_json_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    monkeypatch.setenv("KINERJA_LOG_REPEAT_INTERVAL_S", "3600")
    try:
        setup_logging("INFO")
        out = io.StringIO()
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(out)
        kafka_log = logging.getLogger("aiokafka")
        kafka_log.setLevel(logging.WARNING)
        for _ in range(500):
            kafka_log.error("Unable to update metadata from %s", [1])
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert [line["message"] for line in lines] == ["Unable to update metadata from [1]"]
