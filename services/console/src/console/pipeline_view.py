"""The overview's operator panels (consumer lag, DLQ sizes, outboxes), taken every few seconds
in the background rather than on each view: they ask Kafka's cluster and every service's
/metrics, which takes a few hundred milliseconds on a busy cluster, and a person watching the
overview gains nothing from figures fresher than their refresh. The panels say when they were
taken."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from . import metrics_scrape
from .config import Settings
from .kafka_view import GroupLag, KafkaView

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineFigures:
    lag: list[GroupLag]
    dlq: dict[str, int | None]
    outbox: list[metrics_scrape.OutboxFigures]
    taken_at: datetime


class PipelineWatch:
    def __init__(self, settings: Settings, kafka: KafkaView) -> None:
        self._settings = settings
        self._kafka = kafka
        self._every = settings.pipeline_refresh_seconds
        self._latest: PipelineFigures | None = None
        self._taking = asyncio.Lock()

    async def take(self) -> PipelineFigures:
        lag, dlq, outbox = await asyncio.gather(
            self._kafka.lag(self._settings.lag_groups),
            self._kafka.sizes(self._settings.dlq_topics),
            metrics_scrape.outbox_figures(self._settings.metrics_urls),
        )
        self._latest = PipelineFigures(lag, dlq, outbox, datetime.now(UTC))
        return self._latest

    async def latest(self) -> PipelineFigures:
        """The last figures taken; taken now if there are none yet or the refresh has fallen
        behind (three periods), so a view never shows figures older than that."""
        found = self._latest
        if found is not None and not self._stale(found):
            return found  # no lock: a view never waits for a refresh under way
        async with self._taking:
            found = self._latest
            if found is None or self._stale(found):
                found = await self.take()
            return found

    def _stale(self, figures: PipelineFigures) -> bool:
        return (datetime.now(UTC) - figures.taken_at).total_seconds() > 3 * self._every

    async def run(self) -> None:
        """Take the figures every ``pipeline_refresh_seconds`` until cancelled."""
        while True:
            try:
                async with self._taking:
                    await self.take()
            except Exception:
                log.warning("pipeline figures not taken", exc_info=True)
            await asyncio.sleep(self._every)
