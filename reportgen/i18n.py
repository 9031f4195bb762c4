"""Report languages: the gettext catalogue of the report's language, and the language in force.

A report is made in one language (``en`` or ``ja``). :func:`using` sets it for everything that
turns data into words while the report is built (the assessment's texts, the template context,
the charts); :func:`_` translates a message of the code, the Jinja i18n extension those of the
templates. The catalogue ``locale/ja/LC_MESSAGES/reportgen.po`` is shipped as text and read
once per process (Babel, in memory: no compiled ``.mo`` to build or go stale). English is the
source language: its messages pass through unchanged, so English output does not depend on
the catalogue at all.
"""

from __future__ import annotations

import contextvars
import io
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from reportgen.errors import ReportError

LANGUAGES = ("en", "ja")
DOMAIN = "reportgen"
_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("reportgen_lang", default="en")
_CALENDAR: contextvars.ContextVar[str] = contextvars.ContextVar(
    "reportgen_calendar", default="gregorian"
)
CALENDARS = ("gregorian", "japanese")


def check_language(value: object, where: str = "--lang") -> str:
    """``en`` or ``ja``; anything else is a :class:`ReportError` naming ``where``."""
    if value not in LANGUAGES:
        raise ReportError(f"{where} must be one of {', '.join(LANGUAGES)}, not {value!r}")
    return str(value)


def primary(tag: str) -> str:
    """The report language of a BCP 47 tag: ``en-GB`` -> ``en``, ``ja-JP`` -> ``ja``."""
    return tag.split("-", 1)[0].lower()


@cache
def translations(lang: str) -> NullTranslations:
    """The catalogue of ``lang`` (English: none, messages are their own translation)."""
    check_language(lang)
    if lang == "en":
        return NullTranslations()
    po = resources.files("reportgen").joinpath(f"locale/{lang}/LC_MESSAGES/{DOMAIN}.po")
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def current() -> str:
    """The language of the report being built (``en`` outside :func:`using`)."""
    return _LANG.get()


def calendar() -> str:
    """``gregorian`` (2025年4月1日) or ``japanese`` (令和7年4月1日) for Japanese dates."""
    return _CALENDAR.get()


@contextmanager
def using(lang: str, calendar: str = "gregorian") -> Iterator[None]:
    """Build what happens inside in ``lang`` (this thread or task only)."""
    check_language(lang)
    token, token_cal = _LANG.set(lang), _CALENDAR.set(calendar)
    try:
        yield
    finally:
        _LANG.reset(token)
        _CALENDAR.reset(token_cal)


def _(message: str) -> str:
    """``message`` in the current report language (itself in English)."""
    lang = _LANG.get()
    return message if lang == "en" else translations(lang).gettext(message)


def gettext(message: str) -> str:
    """:func:`_` for the templates (Jinja's i18n extension)."""
    return _(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    lang = _LANG.get()
    if lang == "en":
        return singular if n == 1 else plural
    return translations(lang).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; :func:`_` translates it at use."""
    return message


def pick(lang_texts: dict[str, str] | None, english: str) -> str:
    """A per-language text from data (the rule file): the current language's, else English."""
    lang = _LANG.get()
    if lang == "en" or not lang_texts:
        return english
    return lang_texts.get(lang) or english
