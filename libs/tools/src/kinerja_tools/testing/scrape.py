"""Reading a service's ``/metrics`` text the way Prometheus would."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(sample name, labels, value) of every sample in an exposition."""
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def values(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples called ``name`` whose labels include ``labels``."""
    return [
        v
        for n, ls, v in parse(text)
        if n == name and all(ls.get(k) == want for k, want in labels.items())
    ]


def total(text: str, name: str, **labels: str) -> float:
    """Sum of ``values``: 0 when the series does not exist yet (a counter never incremented)."""
    return sum(values(text, name, **labels))
