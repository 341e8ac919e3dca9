"""The application: settings, the one error type and its handler, security headers, templates, responses."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import BaseModel, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from proctor.store import Store
from proctor.web._format import number, plural, rating_summary, scale_labels

HERE = Path(__file__).parent
logger = logging.getLogger(__name__)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class WebSettings(BaseModel):
    """How the web interface behaves."""

    scale: str = "1-5"
    """The rating scale, `LOW-HIGH` with integers, e.g. `1-7`."""
    secure_cookies: bool = False
    """Mark cookies Secure (serve over HTTPS behind a proxy)."""
    page_steps: int = 40
    """Steps of a run a page loads at a time (the first view, and each window fetched as you scroll or jump)."""
    thresholds: Path | None = None
    """The if-then thresholds file the Reports page gives verdicts on (read on every visit); None: none."""
    release_dates: Path | None = None
    """Release dates (METR's YAML, `date: {MODEL: YYYY-MM-DD}`) for the trend of horizons; None: no trend."""
    login_failures_per_address: int = Field(default=20, ge=1)
    """Wrong logins from one address within `login_window` before its logins are refused (429) for a while."""
    login_failures_per_name: int = Field(default=5, ge=1)
    """Wrong logins for one user name within `login_window` before logins as that name are refused (429)."""
    login_window: float = Field(default=300.0, gt=0)
    """Seconds a wrong login counts against its address and name."""
    hash_workers: int = Field(default=2, ge=1)
    """Password checks at once (each takes about 64 MiB and most of a core); more wait their turn, so a burst of
    logins cannot starve the other pages."""

    @field_validator("scale")
    @classmethod
    def _check_scale(cls, value: str) -> str:
        match = re.fullmatch(r"(\d+)-(\d+)", value.strip())
        if match is None or not 0 <= int(match.group(1)) < int(match.group(2)) <= 100:
            raise ValueError(f"rating scale {value!r} must look like 1-5 (two integers, low below high)")
        return value.strip()

    @property
    def scale_values(self) -> list[int]:
        """Every value on the rating scale."""
        low, high = (int(x) for x in self.scale.split("-"))
        return list(range(low, high + 1))


class WebError(Exception):
    """Something the web interface refuses, with the HTTP status to answer and a message saying what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


def markdown(text: str | None) -> Markup:
    """Markdown rendered with raw HTML disabled (escaped); markdown-it refuses javascript:, vbscript: and data:
    link targets."""
    return Markup(_markdown.render(text or ""))


def call_arguments(raw: object) -> list[tuple[str, str]] | None:
    """A tool call's raw JSON arguments as (name, value) pairs to show, strings as they are and other values as
    indented JSON; None when they are not a JSON object (then they are shown as written)."""
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    shown = (v if isinstance(v, str) else json.dumps(v, indent=2, ensure_ascii=False) for v in parsed.values())
    return list(zip((str(k) for k in parsed), shown, strict=True))


def duration(seconds: float) -> str:
    """Seconds as a clock shows them: `4:05`, `1:02:03`."""
    whole = max(0, int(seconds))
    hours, minutes, rest = whole // 3600, whole // 60 % 60, whole % 60
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


CUT_CHARS = 1500
CUT_LINES = 24


def cut(text: object, full: bool = False) -> dict[str, Any]:
    """Long text's head to show (its first `CUT_LINES` lines, at most `CUT_CHARS` characters) and how many
    characters are left out (`more`, 0 when shown whole or `full`)."""
    whole = "" if text is None else str(text)
    if full:
        return {"text": whole, "more": 0}
    head = whole[:CUT_CHARS]
    lines = head.split("\n")
    if len(lines) > CUT_LINES:
        head = "\n".join(lines[:CUT_LINES])
    return {"text": head, "more": len(whole) - len(head)}


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["markdown"] = markdown
    env.filters["call_arguments"] = call_arguments
    env.filters["duration"] = duration
    env.filters["cut"] = cut
    env.filters["money"] = lambda v: f"${v:,.4f}" if v else "—"
    env.filters["score"] = lambda v: "—" if v is None else f"{v:.2f}"
    env.filters["dict_merge"] = lambda a, b: {**a, **b}
    env.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M") if v else ""
    env.filters["number"] = number
    env.filters["plural"] = plural
    env.filters["rating_summary"] = rating_summary
    env.filters["scale_labels"] = scale_labels
    return env


def wants_json(request: Request) -> bool:
    """JSON for /api/… paths and for requests that accept JSON but not HTML (scripts, fetch)."""
    accept = request.headers.get("accept", "")
    return request.url.path.startswith("/api/") or ("application/json" in accept and "text/html" not in accept)


def respond(request: Request, template: str, data: dict[str, Any], status: int = 200) -> Response:
    """`data` as JSON (API) or rendered into `template` (page)."""
    if wants_json(request):
        return JSONResponse(jsonable_encoder(data), status_code=status)
    return render(request, template, data, status)


def render(request: Request, template: str, data: dict[str, Any], status: int = 200) -> HTMLResponse:
    """Render a page template with the logged-in user, their CSRF token and the settings."""
    session = getattr(request.state, "session", None)
    context = {
        "request": request,
        "user": session.user if session else None,
        "csrf": session.csrf if session else "",
        "settings": request.app.state.settings,
        **data,
    }
    html = request.app.state.templates.get_template(template).render(context)
    return HTMLResponse(html, status_code=status)


WEB_ROOTS = {
    "runs",
    "api",
    "static",
    "judgments",
    "studies",
    "tags",
    "queue",
    "admin",
    "login",
    "steps",
    "options",
    "results",
    "reports",
}
"""First parts of the site's own paths, which error messages may name."""
_PATH = re.compile(r"(?<![\w:/.])/(?:[\w.@+~-]+/)+[\w.@+~-]*|(?<![\w:/.])/[\w.@+~-]+\.\w+\b")
_URL = re.compile(r"\b(?:sqlite|postgresql|postgres|mysql)(?:\+\w+)?://\S*")


def scrub(message: str, store: Store | None = None) -> str:
    """An error message fit to show a user of the site: no database URL (with its password or file) and no path
    on the server's disk; the site's own paths (`/runs/…`) stay."""
    if store is not None:
        message = message.replace(store.url, "the database")
    message = _URL.sub("the database", message)

    def hide(found: re.Match[str]) -> str:
        path = found.group(0)
        return path if path.strip("/").split("/")[0] in WEB_ROOTS else "a file on the server"

    return _PATH.sub(hide, message)


def _error_response(request: Request, status: int, message: str) -> Response:
    message = scrub(message, getattr(request.app.state, "store", None))
    if status == 401 and not wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse("/login", status_code=303)
        response.set_cookie("proctor_next", target, httponly=True, samesite="lax", max_age=600)
        return response
    if wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    return render(request, "error.html", {"status": status, "message": message}, status)


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response


def create_app(store: Store, settings: WebSettings | None = None) -> FastAPI:
    """The web interface on `store`.

    Example:
        uvicorn.run(create_app(Store("sqlite:///runs.db")), host="127.0.0.1", port=8000)
    """
    from proctor.web import _actions, _auth, _control, _holds, _people, _rate, _reports, _runs, _studies, _work
    from proctor.web._overview import Conversations

    app = FastAPI(title="proctor", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.settings = settings or WebSettings()
    app.state.templates = _templates()
    app.state.conversations = Conversations()  # the last few "messages the model saw", for paging them
    app.add_middleware(_SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    async def web_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, WebError)
        response = _error_response(request, error.status, error.message)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        message = "no such page" if error.status_code == 404 else str(error.detail)
        return _error_response(request, error.status_code, message)

    async def invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error_response(request, 422, f"invalid {where}: {first.get('msg', 'bad value')}")

    async def crashed(request: Request, error: Exception) -> Response:
        logger.exception("%s %s failed", request.method, request.url.path, exc_info=error)
        return _error_response(request, 500, "something went wrong on the server: its log says what")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    app.add_exception_handler(Exception, crashed)
    app.add_exception_handler(WebError, web_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    for module in (_auth, _runs, _actions, _rate, _control, _holds, _people, _studies, _work, _reports):
        app.include_router(module.router)
    return app
