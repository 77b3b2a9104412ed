# No `from __future__ import annotations`: FastAPI must resolve the route signature below.
"""A refusal raised anywhere becomes the one error body, with the status of its kind."""

import httpx
import pytest
from fastapi import FastAPI

from kinerja_shared.errors import STATUS_OF, install_error_handlers
from kinerja_shared.refusal import Kind, Refusal


def test_every_kind_has_one_http_status() -> None:
    assert dict(STATUS_OF) == {
        Kind.INVALID: 422,
        Kind.FORBIDDEN: 403,
        Kind.NOT_FOUND: 404,
        Kind.CONFLICT: 409,
    }


def test_a_refusal_reads_as_its_code_and_message_and_is_invalid_unless_told() -> None:
    refusal = Refusal("V-11", "Tuliskan catatan perbaikan.", min_chars=20)
    assert str(refusal) == "V-11: Tuliskan catatan perbaikan."
    assert (refusal.kind, refusal.detail) == (Kind.INVALID, {"min_chars": 20})


@pytest.mark.parametrize("kind", list(Kind))
async def test_a_raised_refusal_answers_with_the_status_of_its_kind(kind: Kind) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/refuse")
    async def refuse(detailed: bool = False) -> None:
        raise Refusal("SOME_CODE", "Pesan.", kind, **({"nips": ["1"]} if detailed else {}))

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        plain = await client.get("/refuse")
        detailed = await client.get("/refuse", params={"detailed": "true"})

    assert plain.status_code == STATUS_OF[kind]
    body = plain.json()
    assert (body["code"], body["message"]) == ("SOME_CODE", "Pesan.")
    assert "correlation_id" in body
    assert "detail" not in body
    assert detailed.status_code == STATUS_OF[kind]
    assert detailed.json()["detail"] == {"nips": ["1"]}
