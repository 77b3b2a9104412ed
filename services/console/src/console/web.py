"""What every page shares: the templates, the signed-in user, and refusals as pages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from kinerja_shared.auth import Role

from .bkn import BknSync, UpstreamError
from .config import Settings
from .kafka_view import KafkaView
from .pipeline_view import PipelineWatch
from .sessions import CONSOLE_ROLES, SESSION_COOKIE, Sealer, User

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


@dataclass
class Console:
    settings: Settings
    sealer: Sealer
    bkn: BknSync
    kafka: KafkaView
    pipeline: PipelineWatch


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


ConsoleDep = Annotated[Console, Depends(console)]


class NeedLogin(Exception):
    pass


class PageRefusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def forbidden(message: str) -> PageRefusal:
    return PageRefusal(403, "CONSOLE_FORBIDDEN", message)


def current_user(request: Request, c: ConsoleDep) -> User:
    user = c.sealer.user_of(request.cookies.get(SESSION_COOKIE), c.settings.session_seconds)
    if user is None:
        raise NeedLogin()
    if user.principal.role not in CONSOLE_ROLES:
        raise forbidden("Konsol hanya untuk operator dan Dinas Pendidikan.")
    return user


def operator(user: Annotated[User, Depends(current_user)]) -> User:
    if user.principal.role is not Role.OPERATOR:
        raise forbidden("Hanya operator yang boleh melakukan ini.")
    return user


def same_origin(request: Request, c: ConsoleDep) -> None:
    """An action comes from a page of this console, never from a form on another site."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    if not origin.startswith(c.settings.public_url.rstrip("/")):
        raise forbidden("Permintaan bukan dari halaman konsol ini.")


UserDep = Annotated[User, Depends(current_user)]
OperatorDep = Annotated[User, Depends(operator)]


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    c = console(request)
    return templates.TemplateResponse(
        request,
        name,
        {"zipkin": c.settings.zipkin_url.rstrip("/"), **context},
        status_code=status,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(NeedLogin)
    async def _login(request: Request, _: NeedLogin) -> Response:
        target = f"/login?next={request.url.path}"
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PageRefusal)
    async def _refused(request: Request, exc: PageRefusal) -> HTMLResponse:
        return _error_page(request, exc.status, exc.code, exc.message)

    @app.exception_handler(UpstreamError)
    async def _upstream(request: Request, exc: UpstreamError) -> HTMLResponse:
        return _error_page(request, exc.status, exc.code, exc.message)


def _error_page(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    user = None
    c = console(request)
    user = c.sealer.user_of(request.cookies.get(SESSION_COOKIE), c.settings.session_seconds)
    return page(request, "error.html", status, code=code, message=message, user=user)
