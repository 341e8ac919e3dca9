"""Logging in and out, the session behind every request, roles, and CSRF checks on every state change."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from proctor.store import Role, Store, users
from proctor.store._users import SESSION_LIFETIME, SessionRecord
from proctor.web._app import WebError, render, wants_json
from proctor.web._limits import HashPool, LoginLimits

COOKIE = "proctor_session"
LOGIN_COOKIE = "proctor_login"
router = APIRouter()


def store_of(request: Request) -> Store:
    """The app's store."""
    store: Store = request.app.state.store
    return store


def current(request: Request) -> SessionRecord:
    """The logged-in session of a request (a FastAPI dependency).

    Raises:
        WebError: 401 when there is no valid session.
    """
    token = request.cookies.get(COOKIE)
    found = None
    if token:
        with store_of(request).engine.connect() as conn:
            found = users.session(conn, token)
    if found is None:
        raise WebError(401, "log in first")
    request.state.session = found
    return found


Viewer = Annotated[SessionRecord, Depends(current)]


def require(session: SessionRecord, *roles: Role) -> None:
    """Refuse (403) a user whose role is not among `roles`."""
    if session.user.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise WebError(403, f"this needs the {allowed} role: ask an admin")


STAFF = (Role.ADMIN, Role.RESEARCHER)


async def form_data(request: Request, session: SessionRecord) -> dict[str, Any]:
    """The body of a state-changing request (a form, or JSON), after checking its CSRF token (the `csrf` field
    or the X-CSRF-Token header).

    Raises:
        WebError: 403 when the token is missing or wrong, 400 for a body that is not a form or a JSON object.
    """
    data: dict[str, Any]
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError as error:
            raise WebError(400, "the body is not valid JSON") from error
        if not isinstance(body, dict):
            raise WebError(400, "send a JSON object")
        data = body
    else:
        data = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    token = request.headers.get("x-csrf-token") or str(data.pop("csrf", "") or "")
    if not token or not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise WebError(403, "missing or wrong CSRF token: reload the page and try again")
    return data


def form_integer(data: dict[str, Any], key: str) -> int | None:
    """A whole-number field of a form or JSON body; None when it is absent or empty.

    Raises:
        WebError: 422 for anything else.
    """
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise WebError(422, f"{key} must be a whole number, not {value!r}")  # int() would cut 3.5 to 3
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise WebError(422, f"{key} must be a whole number, not {value!r}") from error


def _set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
        path="/",
    )


@router.get("/login")
def login_page(request: Request) -> Response:
    """The login form, with a one-off token against login CSRF."""
    nonce = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"nonce": nonce, "error": None})
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", max_age=3600)
    return response


class TooMany(WebError):
    """Too many wrong logins from this address or for this name: 429, and when to try again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(429, f"too many wrong logins: try again in {retry_after} s")
        self.retry_after = retry_after


def limits_of(request: Request) -> tuple[LoginLimits, HashPool]:
    """The app's login limits and its pool of password checks."""
    state = request.app.state
    if not hasattr(state, "login_limits"):
        settings = state.settings
        state.login_limits = LoginLimits(settings.login_window)
        state.hash_pool = HashPool(settings.hash_workers)
    return state.login_limits, state.hash_pool


def _check(store: Store, name: str, password: str) -> tuple[str, str, Any] | None:
    with store.engine.begin() as conn:
        user = users.check_password(conn, name, password)
        if user is None:
            return None
        token, csrf = users.start_session(conn, user.id)
    return token, csrf, user


async def _login(request: Request, name: str, password: str) -> tuple[str, str, Any]:
    """Check a login within the limits: refused (429) when its address or name had too many wrong logins lately,
    the password checked in the bounded pool, a wrong one counted against both.

    Raises:
        TooMany: 429 with Retry-After.
        WebError: 401 (API) or 403 (form) for a wrong name or password.
    """
    settings = request.app.state.settings
    limits, pool = limits_of(request)
    address = f"address:{request.client.host if request.client else '?'}"
    keys = {address: settings.login_failures_per_address, f"name:{name}": settings.login_failures_per_name}
    wait = limits.retry_after(keys)
    if wait is not None:
        raise TooMany(wait)
    found = await pool.run(_check, store_of(request), name, password)
    if found is None:
        limits.failed(*keys)
        raise WebError(401 if wants_json(request) else 403, "wrong user name or password")
    limits.succeeded(f"name:{name}")
    return found


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the name and password, start a session, and go where the user was headed."""
    form = await request.form()
    nonce = str(form.get("nonce", ""))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not hmac.compare_digest(nonce.encode(), expected.encode()):
        raise WebError(403, "the login form expired: reload the page and log in again")
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    try:
        token, _, _ = await _login(request, name, password)
    except WebError as error:
        retry = secrets.token_urlsafe(24)
        page = render(request, "login.html", {"nonce": retry, "error": error.message}, error.status)
        page.set_cookie(LOGIN_COOKIE, retry, httponly=True, samesite="strict", max_age=3600)
        if isinstance(error, TooMany):
            page.headers["Retry-After"] = str(error.retry_after)
        return page
    target = request.cookies.get("proctor_next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = RedirectResponse(target, status_code=303)
    _set_session(response, request, token)
    response.delete_cookie(LOGIN_COOKIE)
    response.delete_cookie("proctor_next")
    return response


@router.post("/api/login")
async def api_login(request: Request) -> Response:
    """Log in from a script: JSON `{"name", "password"}`; answers the user and the CSRF token to send as
    X-CSRF-Token, and sets the session cookie."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise WebError(415, 'send JSON: {"name": …, "password": …}')
    body = await request.json()
    if not isinstance(body, dict):
        raise WebError(400, 'send JSON: {"name": …, "password": …}')
    token, csrf, user = await _login(request, str(body.get("name", "")), str(body.get("password", "")))
    response = JSONResponse({"user": user.name, "role": user.role.value, "csrf": csrf})
    _set_session(response, request, token)
    return response


@router.post("/logout")
@router.post("/api/logout")
async def logout(request: Request, session: Viewer) -> Response:
    """End the session."""
    await form_data(request, session)
    token = request.cookies.get(COOKIE, "")
    await run_in_threadpool(store_of(request).write, users.end_session, token)
    response: Response = (
        JSONResponse({"ok": True}) if wants_json(request) else RedirectResponse("/login", status_code=303)
    )
    response.delete_cookie(COOKIE)
    return response


@router.get("/api/me")
def me(session: Viewer) -> dict[str, Any]:
    """Who is logged in, and the CSRF token for their state-changing requests."""
    return {"user": session.user.name, "role": session.user.role.value, "csrf": session.csrf}


@router.get("/")
def home(session: Viewer) -> Response:
    """Raters start at their queue, everyone else at the runs list."""
    return RedirectResponse("/queue" if session.user.role is Role.RATER else "/runs", status_code=303)
