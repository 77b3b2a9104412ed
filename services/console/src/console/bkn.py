"""bkn-sync's HTTP API as the console reads it, always with the signed-in user's token: what a
user sees and may do is what bkn-sync allows that user."""

from __future__ import annotations

from typing import Any

import httpx

from kinerja_shared.telemetry import current_trace_headers


class UpstreamError(Exception):
    """An API refused (its status, code and message pass on) or could not be reached."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


UNAVAILABLE = 424  # a 4xx: the request depended on a service that did not answer


class BknSync:
    def __init__(self, base_url: str, timeout: float) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, token: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}", **current_trace_headers()}
        try:
            response = await self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise UpstreamError(
                UNAVAILABLE, "UPSTREAM_UNAVAILABLE", f"bkn-sync tidak dapat dihubungi ({exc!r})"
            ) from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                code, message = str(body["code"]), str(body["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "UPSTREAM_ERROR", response.text[:200]
            status = response.status_code if response.status_code < 500 else UNAVAILABLE
            raise UpstreamError(status, code, message)
        return response.json()

    async def counts(self, token: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            token, "GET", "/deliveries/counts", params=_clean(params)
        )
        return result

    async def parked_groups(self, token: str, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call(
            token, "GET", "/deliveries/parked/groups", params=_clean(params)
        )
        return result

    async def breaker(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(token, "GET", "/breaker")
        return result

    async def deliveries(self, token: str, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call(
            token, "GET", "/deliveries", params=_clean(params)
        )
        return result

    async def teacher(self, token: str, nip: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call(token, "GET", f"/deliveries/{nip}")
        return result

    async def redrive(
        self, token: str, filters: dict[str, Any], dry_run: bool, reason: str | None = None
    ) -> dict[str, Any]:
        body = {"filters": _clean(filters), "dry_run": dry_run, "reason": reason}
        result: dict[str, Any] = await self._call(token, "POST", "/redrive", json=body)
        return result

    async def pause_state(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(token, "GET", "/pause")
        return result

    async def pause(self, token: str, reason: str, until: str | None) -> dict[str, Any]:
        body = {"reason": reason, "until": until}
        result: dict[str, Any] = await self._call(token, "PUT", "/pause", json=body)
        return result

    async def resume(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(token, "DELETE", "/pause")
        return result


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v not in (None, "", [])}
