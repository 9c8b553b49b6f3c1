"""``python -m bot.web``: run the public web gateway on ``WEB_HOST:WEB_PORT``."""
from __future__ import annotations

import logging

from aiohttp import web

from bot.metrics import configure_logging, serve_metrics
from bot.settings import get_settings
from bot.web.app import create_app


def main() -> None:
    """Serve the gateway until interrupted."""
    settings = get_settings()
    configure_logging(settings)
    serve_metrics(settings)
    web.run_app(
        create_app(settings),
        host=settings.web_host,
        port=settings.web_port,
        print=lambda _: logging.getLogger("bot.web").info(
            "web gateway on http://%s:%s (console: /console/)", settings.web_host, settings.web_port
        ),
    )


if __name__ == "__main__":
    main()
