"""bench/console_pages.py with a tiny table: it ends, seeds what it says, and reports every page
beside its bare query. The figures of such a run mean nothing."""

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


def test_console_pages_reports_each_page_beside_its_bare_query(
    stack: Stack, tmp_path: Path
) -> None:
    out = tmp_path / "console_pages.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "console_pages.py"),
            *("--deliveries", "3000", "--parked", "30", "--requests", "3", "--json", str(out)),
        ],
        env={**os.environ, **stack.env, "KINERJA_STACK": "test"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(out.read_text())

    assert report["seeded_counts"] == {"DELIVERED": 2970, "PARKED": 30}
    assert report["revision"]
    pages = {p["page"]: p for p in report["pages"]}
    assert {"overview", "find, page in the middle (keyset)", "tertahan by reason"} <= set(pages)
    # The operators' panels run no SQL of bkn-sync's: they have no bare query to stand beside.
    assert [p["page"] for p in pages.values() if not p["bare_statements"]] == [
        "overview, operator panels (loaded after)"
    ]
    for page in pages.values():
        for measured in ("render", "bare_query") if page["bare_statements"] else ("render",):
            assert 0 < page[measured]["p50_ms"] <= page[measured]["p99_ms"], page
        assert page["within_target"] is (page["render"]["p99_ms"] < report["target_p99_ms"])
