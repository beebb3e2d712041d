"""The studio page's routes. `create_app(settings)` builds the Starlette app; `serve` runs it with uvicorn.

GET  /                        the series: days around today (or ?around=DATE), what waits, specials
GET  /episode/{name}          a day (2026-11-27) or a special (special-1a2b3c4d5e): film, shots, forms
POST /episode/{name}/decide   approve / reject for a new seed / revise a scene, or approve the rest
POST /special                 start a special from a sentence (through the Dagster webserver)
POST /token                   keep the review token in an HttpOnly cookie
GET  /media/{path}            a file under the storage root, with range requests (HEAD too)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from assets_defs.approvals import WHAT_HAPPENS_NEXT, describe_decisions
from orchestration.studio import actions, media, pages, runs
from starloom_core.series import episode_id, today_in_series
from starloom_core.settings import StarloomSettings
from starloom_core.storage import storage_root

HERE = Path(__file__).parent
MAX_FORM_BYTES = 64 * 1024


def create_app(settings: StarloomSettings) -> Starlette:
    root = storage_root(settings.storage.url)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["fmt"] = lambda v: "–" if v is None else f"{v:g}" if isinstance(v, float) else v

    def page(request: Request, name: str, status: int = 200, **context) -> Response:
        authorised = _authorised(request)
        return templates.TemplateResponse(request, name, {"flash": request.query_params.get("flash", ""), "authorised": authorised,
                                                          "writable": bool(settings.studio.token.get_secret_value()),
                                                          "by": request.cookies.get(actions.NAME_COOKIE, ""), **context},
                                          status_code=status)

    def error(request: Request, status: int, message: str) -> Response:
        return page(request, "error.html", status, status_code=status, message=message)

    def _authorised(request: Request) -> bool:
        try:
            actions.check_token(settings, request.headers.get("authorization", ""), request.cookies.get(actions.TOKEN_COOKIE, ""))
        except actions.ActionError:
            return False
        return True

    def _specials() -> list[str]:
        return list(dict.fromkeys(pages.stored_specials(root) + runs.dagster_specials()))

    def _episode(name: str) -> tuple[str, bool]:
        return pages.find_page_episode(name, _specials())

    def series(request: Request) -> Response:
        around_text = request.query_params.get("around", "")
        try:
            around = dt.date.fromisoformat(around_text) if around_text else today_in_series()
        except ValueError:
            return error(request, 400, f"around must look like 2026-11-27 (YYYY-MM-DD), got {around_text!r}")
        specials = _specials()
        first = around - dt.timedelta(days=pages.DAYS_BACK)
        keys = [(first + dt.timedelta(days=n)).isoformat() for n in range(pages.DAYS_BACK + pages.DAYS_AHEAD + 1)] + specials
        rows = pages.series_rows(settings, root, around, specials, runs.run_states(keys))
        return page(request, "series.html", rows=rows, around=around.isoformat(), text=request.query_params.get("text", ""))

    def episode(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            key, special = _episode(name)
        except pages.PageNotFound as missing:
            return error(request, 404, str(missing))
        view = pages.episode_view(settings, root, key, special, runs.run_states([key]).get(key, ""))
        return page(request, "episode.html", view=view)

    async def decide(request: Request) -> Response:
        name = request.path_params["name"]
        form = await _form(request)

        def work() -> Response:
            try:
                key, special = _episode(name)
            except pages.PageNotFound as missing:
                return error(request, 404, str(missing))
            try:
                _check(request)
                made = actions.decide_from_form(settings, root, key, special, form)
            except actions.ActionError as refused:
                return error(request, refused.status, str(refused))
            done = _redirect(f"/episode/{quote(episode_id(key), safe='')}", f"{describe_decisions(key, made)}; {WHAT_HAPPENS_NEXT}")
            done.set_cookie(actions.NAME_COOKIE, made[0].by, max_age=365 * 86400, samesite="strict")
            return done

        return await run_in_threadpool(work)

    async def special(request: Request) -> Response:
        form = await _form(request)

        def work() -> Response:
            try:
                _check(request)
                key = actions.check_special(settings, form.get("text", ""))
                run_id = runs.launch_special(settings.studio, key)
            except actions.ActionError as refused:
                return error(request, refused.status, str(refused))
            except runs.LaunchError as failed:
                return error(request, 502, str(failed))
            return _redirect("/", f"special {episode_id(key)} launched (run {run_id[:8]}); it appears below as it is made")

        return await run_in_threadpool(work)

    async def token(request: Request) -> Response:
        form = await _form(request)
        try:
            actions.token_matches(settings, form.get("token", ""))
        except actions.ActionError as refused:
            return error(request, refused.status, str(refused))
        back = form.get("back", "/")
        done = _redirect(back if back.startswith("/") and not back.startswith("//") else "/", "token accepted: decisions are open")
        done.set_cookie(actions.TOKEN_COOKIE, form["token"].strip(), httponly=True, samesite="strict", max_age=30 * 86400)
        return done

    def media_file(request: Request) -> Response:
        try:
            path = media.media_file(root, request.path_params["path"])
        except media.MediaPathError as missing:
            return Response(str(missing), status_code=404, media_type="text/plain")
        return media.media_response(path, request.headers.get("range", ""), head=request.method == "HEAD")

    def _check(request: Request) -> None:
        actions.check_token(settings, request.headers.get("authorization", ""), request.cookies.get(actions.TOKEN_COOKIE, ""))

    return Starlette(routes=[
        Route("/", series),
        Route("/episode/{name}", episode),
        Route("/episode/{name}/decide", decide, methods=["POST"]),
        Route("/special", special, methods=["POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/media/{path:path}", media_file, methods=["GET", "HEAD"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ])


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (what the page's forms send); the last value of a repeated field wins."""
    body = await request.body()
    return dict(parse_qsl(body[:MAX_FORM_BYTES].decode("utf-8", "replace"), keep_blank_values=True))


def _redirect(path: str, flash: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'flash': flash})}", status_code=303)


def serve(settings: StarloomSettings, host: str | None = None, port: int | None = None) -> None:
    """Serve the page until Ctrl-C/SIGTERM, quietly: uvicorn logs warnings only, no access log.
    X-Forwarded-For/-Proto are trusted from 127.0.0.1 only (uvicorn's default): a proxy on this machine."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host or settings.studio.host, port=port or settings.studio.port,
                log_level="warning", access_log=False, proxy_headers=True, forwarded_allow_ips="127.0.0.1")
