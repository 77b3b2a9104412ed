"""An identity-provider outage: the last good keys keep verifying for a grace period, the
provider is asked once per retry interval rather than once per request, and concurrent requests
share one fetch."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kinerja_shared.auth import AuthError, DevIdentityProvider, Role, TokenVerifier

TTL, GRACE, RETRY = 300.0, 3600.0, 10.0
WAIT = 10.0  # seconds a test waits for a thread it released; never reached when all is well


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Jwks:
    """A JWKS endpoint that can fail (503) or hold every request until released."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.failing = False
        self.hits = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.hits += 1
                jwks.entered.set()
                jwks.release.wait(WAIT)
                if jwks.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(jwks.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"


@pytest.fixture
def idp(tmp_path: Path) -> DevIdentityProvider:
    return DevIdentityProvider(tmp_path / "idp")


@pytest.fixture
def jwks(idp: DevIdentityProvider) -> Iterator[Jwks]:
    server = Jwks(idp.jwks_path.read_bytes())
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.httpd.shutdown()
    server.httpd.server_close()
    thread.join()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(idp: DevIdentityProvider, jwks: Jwks, clock: Clock) -> TokenVerifier:
    settings = idp.auth_settings(
        jwks_url=jwks.url,
        jwks_cache_seconds=TTL,
        jwks_grace_seconds=GRACE,
        jwks_retry_seconds=RETRY,
    )
    return TokenVerifier(settings, clock=clock)


def _ok(verifier: TokenVerifier, idp: DevIdentityProvider) -> None:
    assert verifier.verify(idp.mint(role=Role.OPERATOR)).role is Role.OPERATOR


def test_during_an_outage_the_last_good_keys_verify_and_the_provider_is_asked_once_per_retry(
    verifier: TokenVerifier, idp: DevIdentityProvider, jwks: Jwks, clock: Clock
) -> None:
    _ok(verifier, idp)
    jwks.failing = True
    clock.now += TTL + 1

    for _ in range(50):
        _ok(verifier, idp)
    assert jwks.hits == 2  # the first fetch, then one refresh that failed

    clock.now += RETRY
    for _ in range(50):
        _ok(verifier, idp)
    assert jwks.hits == 3


def test_keys_past_the_grace_period_are_not_used(
    verifier: TokenVerifier, idp: DevIdentityProvider, jwks: Jwks, clock: Clock
) -> None:
    _ok(verifier, idp)
    jwks.failing = True
    clock.now += TTL + GRACE

    for _ in range(20):
        with pytest.raises(AuthError) as caught:
            verifier.verify(idp.mint(role=Role.OPERATOR))
        assert (caught.value.code, caught.value.status_code) == ("AUTH_UNAVAILABLE", 503)
    assert jwks.hits == 2


def test_the_provider_back_up_is_used_again(
    verifier: TokenVerifier, idp: DevIdentityProvider, jwks: Jwks, clock: Clock
) -> None:
    _ok(verifier, idp)
    jwks.failing = True
    clock.now += TTL + GRACE
    with pytest.raises(AuthError):
        verifier.verify(idp.mint(role=Role.OPERATOR))

    jwks.failing = False
    clock.now += RETRY
    _ok(verifier, idp)
    _ok(verifier, idp)
    assert jwks.hits == 3


def test_with_no_keys_yet_an_unreachable_provider_is_asked_once_per_retry(
    verifier: TokenVerifier, idp: DevIdentityProvider, jwks: Jwks, clock: Clock
) -> None:
    jwks.failing = True

    for _ in range(20):
        with pytest.raises(AuthError) as caught:
            verifier.verify(idp.mint(role=Role.OPERATOR))
        assert caught.value.code == "AUTH_UNAVAILABLE"
    assert jwks.hits == 1


def test_concurrent_requests_on_a_cold_cache_share_one_fetch(
    verifier: TokenVerifier, idp: DevIdentityProvider, jwks: Jwks
) -> None:
    jwks.release.clear()
    token = idp.mint(role=Role.OPERATOR)
    results: list[str] = []
    started = [threading.Event() for _ in range(20)]

    def call(i: int) -> None:
        started[i].set()
        try:
            results.append(verifier.verify(token).role.value)
        except AuthError as exc:
            results.append(exc.code.value)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    threads[0].start()
    assert jwks.entered.wait(WAIT)  # the first fetch is in flight and held
    for thread in threads[1:]:
        thread.start()
    assert all(event.wait(WAIT) for event in started)
    jwks.release.set()
    for thread in threads:
        thread.join(WAIT)

    assert results == ["operator"] * 20
    assert jwks.hits == 1


def test_an_unknown_kid_refetches_at_most_once_per_interval(
    verifier: TokenVerifier, idp: DevIdentityProvider, jwks: Jwks, clock: Clock, tmp_path: Path
) -> None:
    _ok(verifier, idp)
    stranger = DevIdentityProvider(tmp_path / "stranger")

    for _ in range(20):
        with pytest.raises(AuthError) as caught:
            verifier.verify(stranger.mint(role=Role.OPERATOR))
        assert caught.value.code == "AUTH_INVALID"
    assert jwks.hits == 1  # the refetch interval had not passed since the first fetch

    clock.now += 31
    with pytest.raises(AuthError):
        verifier.verify(stranger.mint(role=Role.OPERATOR))
    assert jwks.hits == 2


def test_an_oversized_jwks_is_refused_unread(idp: DevIdentityProvider, jwks: Jwks) -> None:
    jwks.body = b'{"keys": [], "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    verifier = TokenVerifier(idp.auth_settings(jwks_url=jwks.url))

    with pytest.raises(AuthError) as caught:
        verifier.verify(idp.mint(role=Role.OPERATOR))
    assert caught.value.code == "AUTH_UNAVAILABLE"
    assert "larger than" in caught.value.detail
