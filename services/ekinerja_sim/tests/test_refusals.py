from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ekinerja_sim.refusals import MESSAGES, RefusalCode
from ekinerja_sim.serving import running_simulator
from ekinerja_sim.settings import SimSettings

from .conftest import NIP, Put


@pytest.mark.parametrize("code", list(RefusalCode))
async def test_flagged_nip_is_refused_with_422_and_its_code(
    code: RefusalCode, put: Put, client: httpx.AsyncClient
) -> None:
    await client.put(f"/admin/refusals/{NIP}", json={"codes": [code.value]})

    response = await put("skp", key=f"skp-{code}")

    assert response.status_code == 422
    assert response.json() == {"code": code.value, "message": MESSAGES[code]}
    assert (await client.get("/ledger")).json()["count"] == 0


async def test_user_pmm_missing_message_is_the_e_kinerja_wording(
    put: Put, client: httpx.AsyncClient
) -> None:
    await client.put(f"/admin/refusals/{NIP}", json={"codes": ["USER_PMM_MISSING"]})

    response = await put("skp", key="k")

    assert response.json()["message"] == "Admin BKD belum menambahkan User PMM"


async def test_identity_refusal_takes_precedence_over_unor(
    put: Put, client: httpx.AsyncClient
) -> None:
    await client.put(f"/admin/refusals/{NIP}", json={"codes": ["UNOR_NOT_FOUND", "NIP_NOT_FOUND"]})

    response = await put("skp", key="k")

    assert response.json()["code"] == "NIP_NOT_FOUND"


async def test_clearing_a_flag_lets_the_same_key_through(
    put: Put, client: httpx.AsyncClient
) -> None:
    await client.put(f"/admin/refusals/{NIP}", json={"codes": ["USER_PMM_MISSING"]})
    refused = await put("skp", key="skp-1")

    await client.delete(f"/admin/refusals/{NIP}/USER_PMM_MISSING")
    accepted = await put("skp", key="skp-1")

    assert refused.status_code == 422
    assert accepted.status_code == 201
    assert "Idempotent-Replay" not in accepted.headers


async def test_refusals_apply_only_to_the_flagged_nip(put: Put, client: httpx.AsyncClient) -> None:
    await client.put(f"/admin/refusals/{NIP}", json={"codes": ["KEMENAG"]})

    response = await put("skp", key="other", nip="199001012015052002")

    assert response.status_code == 201


@pytest.mark.parametrize("kind", ["predikat", "penilaian-periodik"])
async def test_record_before_its_skp_is_refused_as_skp_not_found(kind: str, put: Put) -> None:
    response = await put(kind, key="early")

    assert response.status_code == 422
    assert response.json() == {
        "code": "SKP_NOT_FOUND",
        "message": "Pegawai belum membuat SKP di PMM",
    }


async def test_predikat_after_its_skp_is_accepted(put: Put) -> None:
    await put("skp", key="skp")

    response = await put("predikat", key="predikat", predikat="BAIK")

    assert response.status_code == 201


async def test_predikat_needs_the_skp_of_the_same_period(put: Put) -> None:
    await put("skp", key="skp", period="2024")

    response = await put("predikat", key="predikat", period="2025")

    assert response.json()["code"] == "SKP_NOT_FOUND"


async def test_unknown_refusal_code_is_rejected_by_admin(client: httpx.AsyncClient) -> None:
    response = await client.put(f"/admin/refusals/{NIP}", json={"codes": ["NOPE"]})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PAYLOAD"


async def test_seed_file_refusals_apply_from_start_and_after_reset(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"refusals": {NIP: ["UNOR_NOT_PADAN"]}}))

    async with (
        running_simulator(SimSettings(seed_file=seed)) as sim,
        httpx.AsyncClient(base_url=sim.url) as client,
    ):
        headers = {"Idempotency-Key": "k"}
        first = await client.put(f"/skp/{NIP}/2025", json={"version": 1}, headers=headers)
        await client.delete(f"/admin/refusals/{NIP}")
        cleared = await client.get("/admin/refusals")
        await client.post("/admin/reset")
        after_reset = await client.put(f"/skp/{NIP}/2025", json={"version": 1}, headers=headers)

    assert first.json()["code"] == "UNOR_NOT_PADAN"
    assert cleared.json() == {}
    assert after_reset.json()["code"] == "UNOR_NOT_PADAN"
