"""Text the platform accepts from callers and writes into spreadsheets (issue 15).

- :data:`Name`: every name and title a request body accepts (counties, providers, stations,
  workers, indicators, evaluators, rubrics, disclosures …). Trimmed, NFC-normalised, and refused
  (422 naming the field) when it holds control characters, bidi overrides/isolates, zero-width or
  other invisible format characters, line/paragraph separators, surrogates or private-use code
  points: they make a name render as something else than it is (``‮`` reverses what follows, a
  zero-width space makes two names look equal).
- :data:`HttpUrl`: a link the platform publishes (provider disclosures): ``http`` or ``https``
  with a host, nothing else (no ``javascript:``, ``data:``, ``file:``), no whitespace or controls.
- :func:`spreadsheet_text`: text written into a CSV or XLSX cell, made inert: a cell starting with
  ``=``, ``+``, ``-``, ``@``, tab or carriage return is prefixed with ``'`` (OWASP, CSV injection),
  so a spreadsheet shows it instead of running it as a formula.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator

# Unicode categories never legitimate in a name: Cc control, Cf format (bidi controls U+202A–202E,
# U+2066–2069, zero-width U+200B–200F, U+2060, U+FEFF …), Zl/Zp separators, Cs surrogates,
# Co private use, Cn unassigned.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def clean_name(value: str) -> str:
    text = unicodedata.normalize("NFC", value).strip()
    for ch in text:
        if unicodedata.category(ch) in REFUSED_CATEGORIES:
            raise ValueError(
                f"contains the invisible or control character U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')}); "
                "names may hold only visible text (名称不得含控制字符、双向控制符或零宽字符)"
            )
    if not text:
        raise ValueError("is empty once trimmed (名称不能为空)")
    return text


def http_url(value: str) -> str:
    text = value.strip()
    if any(ch.isspace() or unicodedata.category(ch) in REFUSED_CATEGORIES for ch in text):
        raise ValueError("a URL holds no spaces or control characters")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host (链接须为 http 或 https 地址)")
    return text


Name = Annotated[str, AfterValidator(clean_name)]
HttpUrl = Annotated[str, AfterValidator(http_url)]


def spreadsheet_text(value: Any) -> Any:
    """A cell value a spreadsheet will not run as a formula (non-text values unchanged)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
