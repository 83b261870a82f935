"""``ghost-model serve``: run the scoring service for CRMs with uvicorn.

Keys come from ``GHOST_API_KEYS`` and ``GHOST_ADMIN_KEYS``; without any the command
refuses to start unless ``--insecure-no-auth`` says that it runs unauthenticated
for local development.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ghost-model serve``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve without API keys (local development only; logged as a warning)",
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log one line per request (method, path, status; never bodies or keys)",
    )


def run(args: argparse.Namespace) -> int:
    """Start the service on the champion model and the score snapshot."""
    import uvicorn

    from ghost_model.settings import Settings
    from serving.app import create_app
    from serving.auth import KeyRing

    settings = Settings()
    if args.insecure_no_auth:
        settings = settings.model_copy(update={"allow_unauthenticated": True})
    keys = KeyRing.from_settings(settings)
    if not keys.required:
        log.warning(
            "serving WITHOUT authentication: every caller may read scores and "
            "reload the model; use this for local development only"
        )
    app = create_app(settings, keys=keys)
    log.info(
        "serving %s@%s from %s on http://%s:%d",
        settings.model_name,
        settings.model_alias,
        settings.resolved_snapshot_path(),
        args.host,
        args.port,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=args.access_log,
        server_header=False,
    )
    return 0
