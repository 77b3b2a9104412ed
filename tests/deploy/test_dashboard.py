"""deploy/grafana: the delivery-pipeline dashboard parses, asks only for metrics that exist, and
shows every metric somewhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from metric_names import PIPELINE, defined_metrics, known_series, referenced_metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "delivery-pipeline.json"


def test_referenced_metrics_reads_promql() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(kinerja_http_request_duration_seconds"
        '_bucket{service=~"$service", status=~"5.."}[$__rate_interval])))'
        " / on (job) group_left sum(up offset 5m) > bool 0.5"
    )
    assert referenced_metrics(expr) == {"kinerja_http_request_duration_seconds_bucket", "up"}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def test_dashboard_parses_and_asks_only_for_defined_metrics() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["title"]
    assert board["uid"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    known = known_series()
    panels = [p for p in _panels(board["panels"]) if p.get("type") != "row"]
    assert len(panels) >= 10
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = referenced_metrics(target["expr"])
            assert used, (panel["title"], target["expr"])
            assert used <= known, (panel["title"], used - known)
    # Every metric is on the board somewhere.
    on_board = set().union(*(referenced_metrics(t["expr"]) for p in panels for t in p["targets"]))
    for name, kind in defined_metrics(PIPELINE).items():
        forms = {"counter": [f"{name}_total"], "gauge": [name]}.get(
            kind, [f"{name}_bucket", f"{name}_count", f"{name}_sum"]
        )
        assert on_board & set(forms), f"{name} is on no panel"
