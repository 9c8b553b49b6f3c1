"""Mount the widget's assets and the demo government portal on the web gateway.

``/widget/widget.js`` is what a portal embeds (one ``<script>`` tag); it loads
``/widget/widget.css`` and the vendored Socket.IO client from next to itself.
``/portal/`` is a demo portal (Chinese, two pages, so moving between pages can be
tried) that embeds the widget exactly as a real portal would.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict

from aiohttp import web

WIDGET_DIR = Path(__file__).resolve().parent
STATIC_DIR = WIDGET_DIR / "static"
PORTAL_DIR = WIDGET_DIR / "portal"

#: URL path → file served. An explicit list: nothing else under these folders is public.
WIDGET_ASSETS: Dict[str, Path] = {
    "/widget/widget.js": STATIC_DIR / "widget.js",
    "/widget/widget.css": STATIC_DIR / "widget.css",
    "/widget/vendor/socket.io.min.js": STATIC_DIR / "vendor" / "socket.io.min.js",
    "/widget/vendor/socket.io-client.LICENSE": STATIC_DIR / "vendor" / "socket.io-client.LICENSE",
    "/portal/portal.css": PORTAL_DIR / "portal.css",
}

PORTAL_PAGES: Dict[str, Path] = {
    "/portal/": PORTAL_DIR / "index.html",
    "/portal/policies": PORTAL_DIR / "policies.html",
}

#: The demo portal runs nothing but its own files: the widget is CSP-compatible
#: (no inline script or style, no eval), as a government portal's policy may demand.
PORTAL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
)


def _file_handler(path: Path, extra_headers: Dict[str, str]):
    async def handler(_: web.Request) -> web.StreamResponse:
        # no-cache: browsers revalidate (ETag / Last-Modified), so portals get updates
        # of the widget without anyone editing their script tag.
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", **extra_headers}
        if path.suffix == ".LICENSE":
            headers["Content-Type"] = "text/plain; charset=utf-8"
        return web.FileResponse(path, headers=headers)

    return handler


async def _redirect_to_portal(_: web.Request) -> web.Response:
    return web.Response(status=301, headers={"Location": "/portal/"})


def setup(app: web.Application) -> None:
    """Add the widget assets (``/widget/…``) and the demo portal (``/portal/``) to ``app``."""
    for url, path in WIDGET_ASSETS.items():
        app.router.add_get(url, _file_handler(path, {}))
    for url, path in PORTAL_PAGES.items():
        app.router.add_get(url, _file_handler(path, {"Content-Security-Policy": PORTAL_CSP}))
    app.router.add_get("/portal", _redirect_to_portal)
