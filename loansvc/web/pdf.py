"""PDF answers: the response with its filename, the OpenAPI entry, and whether a request asks for one."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Query
from fastapi.responses import Response

PDF = "application/pdf"
DocumentLang = Literal["km", "en"]
LangQuery = Query(default="km", description="the document's language: km (Khmer, the default) or en")


def pdf_response(content: bytes, filename: str) -> Response:
    """The PDF, offered for download under `filename` (ASCII: ids, dates and a language code)."""
    return Response(
        content,
        media_type=PDF,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def pdf_content(description: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a 200 that is a PDF (merged with the problem details the route lists)."""
    return {
        200: {
            "description": description,
            "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
        }
    }


def wants_pdf(accept: str | None) -> bool:
    """True when `Accept` names application/pdf and rates it at least as high as JSON
    (`application/pdf`, `application/pdf, application/json;q=0.5`); `*/*` alone stays JSON."""
    weights: dict[str, float] = {}
    for part in (accept or "").split(","):
        media, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        media = media.strip().lower()
        if media:
            weights[media] = max(weight, weights.get(media, 0.0))
    pdf = weights.get(PDF, 0.0)
    return pdf > 0 and pdf >= weights.get("application/json", 0.0)
