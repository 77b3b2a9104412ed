"""bench/recovery_drain.py runs with a tiny workload and reports what the docs
quote: the tail after recovery beside backlog / cap, and the ledger with no duplicate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kinerja_tools.testing.stack import Stack

pytestmark = [pytest.mark.infra, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]


def test_the_storm_is_a_fault_script_the_simulator_takes() -> None:
    from recovery_drain import STORM

    from ekinerja_sim.faults import FaultConfig

    config = FaultConfig.model_validate(STORM)
    assert [r.rate for r in config.rules] == [0.85, 0.1]


def test_recovery_drain_reports_the_tail_after_an_outage(stack: Stack, tmp_path: Path) -> None:
    scenario = "outage"
    out = tmp_path / "drain.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "recovery_drain.py"),
            *("--scenario", scenario, "--n", "30", "--cap", "50", "--outage-seconds", "3"),
            *("--json", str(out)),
        ],
        env={**os.environ, **stack.env, "KINERJA_STACK": "test"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(out.read_text())[scenario]
    assert report["n"] == 30
    assert report["delivered_before_recovery"] + report["backlog_at_recovery"] == 30
    # The outage happened (a script the simulator refused would leave none), and nothing got
    # through it: the whole backlog lands after the recovery.
    assert report["away_s"] >= 3
    assert report["backlog_at_recovery"] == 30
    assert report["tail_s"] > 0
    assert report["ledger"]["accepted"]["skp"] == 30
    assert report["ledger"]["duplicates"] == 0
    assert report["revision"]
