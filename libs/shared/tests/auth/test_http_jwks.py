"""JWKS over http(s): fetched through PyJWKClient and cached, outages are 503 not 401."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kinerja_shared.auth import AuthError, DevIdentityProvider, Role, TokenVerifier


class JwksServer:
    def __init__(self, jwks: bytes) -> None:
        self.jwks = jwks
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(server.jwks)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"


@pytest.fixture
def idp(tmp_path: Path) -> DevIdentityProvider:
    return DevIdentityProvider(tmp_path / "idp")


@pytest.fixture
def jwks_server(idp: DevIdentityProvider) -> Iterator[JwksServer]:
    server = JwksServer(idp.jwks_path.read_bytes())
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
    thread.join()


def test_http_jwks_is_fetched_once_and_cached(
    idp: DevIdentityProvider, jwks_server: JwksServer
) -> None:
    verifier = TokenVerifier(idp.auth_settings(jwks_url=jwks_server.url))

    for _ in range(5):
        assert verifier.verify(idp.mint(role=Role.OPERATOR)).role is Role.OPERATOR

    assert jwks_server.hits == 1


def test_unknown_kid_over_http_is_invalid_and_refetches_at_most_once(
    idp: DevIdentityProvider, jwks_server: JwksServer, tmp_path: Path
) -> None:
    verifier = TokenVerifier(idp.auth_settings(jwks_url=jwks_server.url))
    verifier.verify(idp.mint(role=Role.OPERATOR))
    stranger = DevIdentityProvider(tmp_path / "stranger")

    for _ in range(3):
        with pytest.raises(AuthError) as caught:
            verifier.verify(stranger.mint(role=Role.OPERATOR))
        assert caught.value.code == "AUTH_INVALID"

    assert jwks_server.hits <= 2


def test_unreachable_http_jwks_is_unavailable(idp: DevIdentityProvider) -> None:
    verifier = TokenVerifier(
        idp.auth_settings(jwks_url="http://127.0.0.1:9/jwks.json", jwks_timeout_seconds=1)
    )

    with pytest.raises(AuthError) as caught:
        verifier.verify(idp.mint(role=Role.OPERATOR))

    assert caught.value.code == "AUTH_UNAVAILABLE"
    assert caught.value.status_code == 503


def test_garbage_http_jwks_is_unavailable(
    idp: DevIdentityProvider, jwks_server: JwksServer
) -> None:
    jwks_server.jwks = b"<html>maintenance</html>"
    verifier = TokenVerifier(idp.auth_settings(jwks_url=jwks_server.url))

    with pytest.raises(AuthError) as caught:
        verifier.verify(idp.mint(role=Role.OPERATOR))

    assert caught.value.code == "AUTH_UNAVAILABLE"


def test_file_jwks_picks_up_a_regenerated_key(tmp_path: Path) -> None:
    idp = DevIdentityProvider(tmp_path / "idp")
    verifier = TokenVerifier(idp.auth_settings())
    verifier.verify(idp.mint(role=Role.OPERATOR))
    (tmp_path / "idp" / "signing-key.pem").unlink()
    (tmp_path / "idp" / "jwks.json").unlink()

    rotated = DevIdentityProvider(tmp_path / "idp")

    assert verifier.verify(rotated.mint(role=Role.OPERATOR)).role is Role.OPERATOR
