"""A service's stop never waits on the metrics sampler: a Kafka call that does not end when
cancelled (aiokafka's end_offsets while the broker does not answer) held whole stops for
minutes, in production as in the suite."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from kinerja_shared import metrics


class DeafConsumer:
    """A consumer whose end_offsets neither answers nor ends when cancelled."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.deaf = True  # until the test ends: then a cancel ends the call

    def assignment(self) -> set[Any]:
        from aiokafka import TopicPartition

        return {TopicPartition("kinerja.test.v1", 0)}

    async def end_offsets(self, _partitions: list[Any]) -> dict[Any, int]:
        self.asked.set()
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if not self.deaf:
                    raise
                # swallowed, as the stuck call did


class Subscriber:
    def __init__(self, consumer: DeafConsumer) -> None:
        self.group_id = "svc:kinerja.test.v1"
        self.consumer = consumer
        self.consumer_subgroup: list[Any] = []


class Broker:
    def __init__(self, consumer: DeafConsumer) -> None:
        self.subscribers = [Subscriber(consumer)]


class NoPool:
    pass


async def test_a_stop_with_the_sampler_stuck_in_a_kafka_call_ends_within_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_outbox(_self: Any) -> None:
        return None

    monkeypatch.setattr(metrics.Sampler, "sample_outbox", no_outbox)
    consumer = DeafConsumer()
    sampler = metrics.Sampler("svc", NoPool(), Broker(consumer), interval=3600).start()  # type: ignore[arg-type]
    await asyncio.wait_for(consumer.asked.wait(), 10)

    started = time.monotonic()
    try:
        await sampler.stop(bound=0.5)
        assert time.monotonic() - started < 5
    finally:
        await _hear_again(consumer)


async def test_lag_not_answered_in_time_is_a_timeout_not_a_wait_for_the_call() -> None:
    consumer = DeafConsumer()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(metrics.consumer_lag(consumer, timeout=0.2), 10)
    finally:
        await _hear_again(consumer)


async def _hear_again(consumer: DeafConsumer) -> None:
    """End the calls left behind, so the test's loop can close."""
    consumer.deaf = False
    for task in asyncio.all_tasks():
        if task.get_coro().__qualname__.startswith("DeafConsumer"):  # type: ignore[union-attr]
            task.cancel()
