"""deploy/prometheus: the alert rules are valid, behave as their unit tests say, ask for metrics
that exist, and each has its runbook, linked so that a browser opens it. promtool is Debian's
(`prometheus` package, 2.42 on bookworm), which deploy/local/test-tools.sh installs when missing
(`make test` runs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from metric_names import known_series, referenced_metrics

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
ALERTS = PROM / "alerts.yml"
# alerts.yml's runbook links: <repository web address>/docs/runbooks/<alert>.md, with this
# default address; each Kubernetes overlay replaces it (tests/deploy/test_manifests.py).
RUNBOOK_BASE = "https://git.kinerja.example/kinerja/kinerja/-/blob/main"


@pytest.fixture(scope="session")
def promtool() -> Path:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "no promtool on PATH: run `bash deploy/local/test-tools.sh` as root (Debian's "
            "prometheus package; `make test` does this)",
            pytrace=False,
        )
    return Path(found)


def run(promtool: Path, *args: str) -> str:
    done = subprocess.run(
        [str(promtool), *args], cwd=PROM, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules(promtool: Path) -> None:
    out = run(promtool, "check", "rules", "alerts.yml")
    assert f"SUCCESS: {len(rules())} rules found" in out


def test_promtool_unit_tests_pass(promtool: Path) -> None:
    out = run(promtool, "test", "rules", "alerts_test.yml")
    assert "SUCCESS" in out


def test_promtool_checks_the_scrape_config(promtool: Path) -> None:
    run(promtool, "check", "config", "--syntax-only", "prometheus.yml")


def test_unit_tests_show_every_alert_firing_and_not_firing() -> None:
    doc = yaml.safe_load((PROM / "alerts_test.yml").read_text())
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in doc["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {r["alert"] for r in rules()}
    assert fired == names, names - fired
    assert quiet == names, names - quiet


def test_every_alert_has_summary_description_and_an_existing_runbook() -> None:
    for rule in rules():
        name = rule["alert"]
        notes = rule["annotations"]
        assert notes["summary"], name
        assert notes["description"], name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        # A link a browser opens, not a path inside the repository.
        assert notes["runbook_url"] == f"{RUNBOOK_BASE}/docs/runbooks/{name}.md"
        runbook = ROOT / "docs" / "runbooks" / f"{name}.md"
        assert runbook.is_file(), runbook
        assert name in runbook.read_text(), f"{runbook} does not name its alert"


# --- every expression asks for metrics that exist ------------------------------------------


def test_alert_expressions_use_metrics_that_the_services_define() -> None:
    known = known_series()
    for rule in rules():
        used = referenced_metrics(rule["expr"])
        assert used, rule["alert"]
        assert used <= known, (rule["alert"], used - known)
