from __future__ import annotations

from typing import Any

import pytest

from ekinerja_sim import cli


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: dict[str, Any] = {}

    def fake_run(app: object, **kwargs: Any) -> None:
        calls.update(kwargs, app=app)

    monkeypatch.setattr("ekinerja_sim.cli.uvicorn.run", fake_run)
    return calls


def test_serve_defaults_to_port_58010_on_loopback(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EKINERJA_SIM_HTTP_PORT", raising=False)

    assert cli.main(["serve"]) == 0

    assert (served["host"], served["port"]) == ("127.0.0.1", 58010)


def test_serve_port_comes_from_env(served: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EKINERJA_SIM_HTTP_PORT", "59123")

    cli.main(["serve"])

    assert served["port"] == 59123


def test_serve_flags_override_env(served: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EKINERJA_SIM_HTTP_PORT", "59123")

    cli.main(["serve", "--host", "0.0.0.0", "--port", "59999"])

    assert (served["host"], served["port"]) == ("0.0.0.0", 59999)
