"""QR images of a code's URL, made locally with segno (no service, no CDN)."""

from __future__ import annotations

import io

import segno


def png(url: str, *, scale: int = 8) -> bytes:
    """A PNG of the QR code for ``url``."""
    buf = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


def svg(url: str, *, scale: int = 8) -> bytes:
    """An SVG of the QR code for ``url`` (standalone document)."""
    buf = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buf, kind="svg", scale=scale, border=2, xmldecl=False)
    return buf.getvalue()


def svg_inline(url: str, *, scale: int = 6) -> str:
    """The SVG as text to inline in a page (no XML declaration)."""
    buf = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        buf, kind="svg", scale=scale, border=2, xmldecl=False, svgns=True, nl=False
    )
    return buf.getvalue().decode()
