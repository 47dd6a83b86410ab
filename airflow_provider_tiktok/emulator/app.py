"""The ASGI application: TikTok's routes and the control API, inside the fault/logging middleware."""

from __future__ import annotations

from starlette.applications import Starlette

from airflow_provider_tiktok.emulator import control_api, display, oauth, posting, upload, webhooks
from airflow_provider_tiktok.emulator.errors import ApiError, OAuthError, api_error_handler, oauth_error_handler
from airflow_provider_tiktok.emulator.middleware import FaultAndLogMiddleware
from airflow_provider_tiktok.emulator.state import EmulatorState


def build_app(state: EmulatorState) -> FaultAndLogMiddleware:
    app = Starlette(
        routes=[*oauth.ROUTES, *posting.ROUTES, *display.ROUTES, *upload.ROUTES, *control_api.ROUTES],
        exception_handlers={ApiError: api_error_handler, OAuthError: oauth_error_handler},
        lifespan=webhooks.lifespan(state),
    )
    # TikTok's paths end in "/"; a path without it is a 404 there, not a redirect to the right one.
    app.router.redirect_slashes = False
    app.state.emu = state
    return FaultAndLogMiddleware(app, state)
