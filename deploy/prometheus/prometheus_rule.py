"""The alert rules of alerts.yml as a Prometheus Operator PrometheusRule, for deploy/k8s.

From the repository root:

    .venv/bin/python deploy/prometheus/prometheus_rule.py \
        > deploy/k8s/monitoring/prometheusrule.yaml

alerts.yml stays the one source: promtool checks and unit-tests it, a plain Prometheus loads it
(prometheus.yml), and this turns its groups, unchanged, into the resource the operator loads.
tests/deploy/test_manifests.py fails when the committed PrometheusRule is not what this renders
now. The runbook links keep alerts.yml's default base; each overlay replaces it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ALERTS = Path(__file__).resolve().parent / "alerts.yml"
HEADER = (
    "# GENERATED from deploy/prometheus/alerts.yml by deploy/prometheus/prometheus_rule.py:\n"
    "# never edit by hand. Regenerate, from the repository root:\n"
    "#   .venv/bin/python deploy/prometheus/prometheus_rule.py"
    " > deploy/k8s/monitoring/prometheusrule.yaml\n"
)


def prometheus_rule(alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "kinerja-alerts",
            "labels": {
                "app.kubernetes.io/part-of": "kinerja",
                "app.kubernetes.io/component": "monitoring",
            },
        },
        "spec": {"groups": alerts["groups"]},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions stay readable blocks, as in alerts.yml."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(alerts: Path = ALERTS) -> str:
    resource = prometheus_rule(yaml.safe_load(alerts.read_text()))
    body = yaml.dump(resource, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return HEADER + body


if __name__ == "__main__":
    sys.stdout.write(render())
