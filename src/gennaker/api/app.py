"""Builds the FastAPI application around a Runtime and a security policy."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gennaker import __version__
from gennaker.api.audit import install_audit
from gennaker.api.deps import Security
from gennaker.api.errors import install_error_handlers
from gennaker.api.limits import RequestBodyLimit, max_request_bytes
from gennaker.api.metrics import Metrics
from gennaker.api.request_log import RequestLog
from gennaker.api.routes import applications, infrastructure, live, pipelines, system, tasks, templates, webhooks
from gennaker.api.routes import auth as auth_routes
from gennaker.api.routes import builds as build_routes  # Jenkins masters for the editor (issue 13)
from gennaker.api.routes import canary as canary_routes  # canary configs and judgments (issue 14)
from gennaker.auth.service import AuthService
from gennaker.runtime import Runtime
from gennaker.ui import canary as canary_pages
from gennaker.ui import editor, login
from gennaker.ui import infrastructure as infrastructure_pages
from gennaker.ui import routes as pages
from gennaker.ui.static import STATIC


def create_app(runtime: Runtime, security: Security, *, ui: bool = True, auth: AuthService | None = None) -> FastAPI:
    """The API (and UI); with `auth`, also sign-in, users, tokens and an audit record of every change."""
    app = FastAPI(title="Gennaker", version=__version__, description="Gate-compatible API of Gennaker.")
    app.state.runtime = runtime
    app.state.security = security
    app.state.metrics = Metrics(runtime)
    install_error_handlers(app)
    app.add_middleware(RequestBodyLimit, max_bytes=max_request_bytes(runtime.settings.config))
    for module in (system, applications, tasks, pipelines, templates, live, webhooks, infrastructure, build_routes):
        app.include_router(module.router)
    app.include_router(canary_routes.router)
    if auth is not None:
        app.state.auth = auth
        app.include_router(auth_routes.router)
        install_audit(app, auth)
    if ui:
        if auth is not None:
            app.include_router(login.router)
        app.include_router(pages.router)
        app.include_router(editor.router)
        app.include_router(infrastructure_pages.router)
        app.include_router(canary_pages.router)
        app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.add_middleware(RequestLog)  # added last, so it is outermost and sees every answer
    return app
