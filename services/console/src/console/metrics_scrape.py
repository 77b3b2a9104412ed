"""The outbox figures each service publishes on /metrics, read over HTTP (never its tables)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

WANTED = ("kinerja_outbox_backlog", "kinerja_outbox_set_aside_rows")


@dataclass(frozen=True)
class OutboxFigures:
    service: str
    backlog: float | None
    set_aside: float | None
    error: str | None = None


def parse(text: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in WANTED:
            try:
                totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                continue
    return totals


async def outbox_figures(urls: Mapping[str, str]) -> list[OutboxFigures]:
    async def one(client: httpx.AsyncClient, service: str, url: str) -> OutboxFigures:
        try:
            response = await client.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return OutboxFigures(service, None, None, f"{type(exc).__name__}")
        found = parse(response.text)
        return OutboxFigures(service, found.get(WANTED[0]), found.get(WANTED[1]))

    async with httpx.AsyncClient(timeout=3) as client:
        return list(await asyncio.gather(*(one(client, s, u) for s, u in sorted(urls.items()))))
