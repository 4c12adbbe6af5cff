"""The ASGI application: ``/rest`` (Bitrix dialect) today, ``/api`` and ``/ui`` later."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relatecrm import __version__
from relatecrm.bitrix.consent import AUTHORIZE_PATHS, ConsentPage
from relatecrm.bitrix.download import ROUTE as DOWNLOAD_ROUTE
from relatecrm.bitrix.download import FileDownload
from relatecrm.bitrix.endpoint import RestEndpoint
from relatecrm.bitrix.oauth import TOKEN_PATHS, OAuthRoutes
from relatecrm.config import Settings
from relatecrm.db import create_engine
from relatecrm.delivery.worker import Worker, report_status


def create_app(settings: Settings) -> FastAPI:
    """One app per settings object; the engine lives and dies with the app's lifespan."""
    engine = create_engine(settings.resolved_database_url())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        background = []
        if settings.status_interval > 0:
            background.append(report_status(engine, settings.status_interval, stop))
        if settings.worker_in_serve():
            background.append(Worker(engine, settings).run(stop))
        tasks = [asyncio.create_task(work) for work in background]
        yield
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine.dispose()

    app = FastAPI(title="RelateCRM", version=__version__, lifespan=lifespan)
    rest = RestEndpoint(engine, settings)
    app.add_route(
        "/rest/{path:path}", rest.handle, methods=["GET", "POST"], include_in_schema=False
    )

    # Files of custom fields: the token in the path is the authorisation (bitrix/download.py).
    app.add_route(
        DOWNLOAD_ROUTE, FileDownload(engine).handle, methods=["GET"], include_in_schema=False
    )

    # OAuth 2.0 for applications: consent page and token endpoint (bitrix/consent.py, oauth.py).
    oauth = OAuthRoutes(engine, settings)
    consent = ConsentPage(oauth)
    for path in AUTHORIZE_PATHS:
        app.add_route(path, consent.handle, methods=["GET", "POST"], include_in_schema=False)
    for path in TOKEN_PATHS:
        app.add_route(path, oauth.token, methods=["GET", "POST"], include_in_schema=False)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    app.add_route("/healthz", health, methods=["GET"], include_in_schema=False)
    app.state.engine = engine
    app.state.settings = settings
    app.state.oauth = oauth  # tests move its clock
    return app


def app_from_environment() -> FastAPI:
    """Factory for uvicorn workers: settings come from ``RELATECRM_*`` variables."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def configure_logging(level: str) -> None:
    """Our own log lines (event status, delivery problems) next to uvicorn's, on stderr.
    httpx's per-request lines stay off: handler URLs may carry secrets."""
    logger = logging.getLogger("relatecrm")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
