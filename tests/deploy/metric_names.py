"""The metric names the dashboard and the alert rules may ask for, and the names a PromQL
expression asks for: what every service defines (kinerja_shared.metrics and .health) and what
bkn-sync defines itself (bkn_sync.metrics), all in prometheus_client's default registry."""

from __future__ import annotations

import re
from types import ModuleType

from prometheus_client.metrics import MetricWrapperBase

from bkn_sync import metrics as bkn_sync_metrics
from kinerja_shared import health, metrics

# The health gauges (kinerja_broker_up, ...) back alerts and /healthz, not dashboard panels.
PIPELINE = (metrics, bkn_sync_metrics)
MODULES = (*PIPELINE, health)

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}

_PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan",
}  # fmt: skip


def defined_metrics(modules: tuple[ModuleType, ...] = MODULES) -> dict[str, str]:
    """Name of every exposed series family of ``modules`` -> its type."""
    return {
        m._name: m._type
        for module in modules
        for m in vars(module).values()
        if isinstance(m, MetricWrapperBase)
    }


def known_series() -> set[str]:
    """Every series name a query may use: the families with their suffixes, and ``up``."""
    return {"up"} | {name + s for name, kind in defined_metrics().items() for s in _SUFFIXES[kind]}


def referenced_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are no function, keyword or label."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range and subquery selectors
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables ($__rate_interval, ...)
    names = set(re.findall(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()", expr))
    return {n for n in names if n.lower() not in _PROMQL_WORDS and not re.fullmatch(r"\d.*", n)}
