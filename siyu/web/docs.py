"""The interactive API docs at ``/api/docs`` and the site's favicon, served from the package.

Swagger UI comes from the npm package swagger-ui-dist, fetched at set-up by
``scripts/fetch_assets.py`` into ``siyu/web/static/vendor/swagger-ui/`` (never from a
CDN, never in git), so the docs work on a machine without internet. When the files are
missing the page says how to install them and where the spec is. The favicon is a small
SVG kept in the package, so no page asks for a missing ``/favicon.ico``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

STATIC = Path(__file__).resolve().parent / "static"
SWAGGER = STATIC / "vendor" / "swagger-ui"
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
FAVICON = STATIC / "favicon.svg"
DOCS_URL = "/api/docs"

_MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} — docs not installed</title>
<link rel="icon" href="/favicon.ico"></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>API docs are not installed</h1>
<p>The interactive docs use Swagger UI, which siyu installs at set-up rather than loading
from the internet. Install it with <code>make setup</code> or
<code>.venv/bin/python scripts/fetch_assets.py</code>, then reload this page.</p>
<p>The OpenAPI spec is here all the same: <a href="{openapi_url}">{openapi_url}</a>.</p>
</body></html>"""


def swagger_installed() -> bool:
    return all((SWAGGER / name).is_file() for name in SWAGGER_FILES)


def install_docs(app: FastAPI) -> None:
    """Add ``/api/docs`` (create the app with ``docs_url=None``) and ``/favicon.ico``."""
    openapi_url = app.openapi_url or "/api/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        if not swagger_installed():
            return HTMLResponse(_MISSING.format(title=app.title, openapi_url=openapi_url))
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} — docs",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
            # ~150 operations: drawn all at once, Swagger UI stops part-way through the
            # list; tags start folded and open on a click (and deep links open theirs)
            swagger_ui_parameters={"docExpansion": "none"},
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return FileResponse(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})
