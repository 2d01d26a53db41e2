"""Argo CD's globs: the one place Bosun reads a glob pattern.

Argo CD matches every glob it reads (sync window lists, project destinations and source
namespaces, ``application.namespaces``, ``resource.exclusions``, ``resource.customizations``
keys, ``ignoreDifferences`` group/kind, a Directory source's include/exclude) with
``github.com/gobwas/glob`` through its ``util/glob`` package. Two translators that read the
same syntax differently would make the same pattern select different things in different
places, so every caller goes through this module.

Syntax (gobwas/glob)
    ``*`` any run of characters that are not separators; ``**`` any run of characters;
    ``?`` one character that is not a separator; ``[abc]`` one of a list; ``[a-z]`` one of
    a single ``lo-hi`` range (``[a-cx]`` is an error, as in gobwas); ``[!abc]`` / ``[!a-z]``
    the negations; ``{a,b{c,d}}`` alternatives (``,`` and ``}`` are literal outside braces);
    ``\\x`` the character ``x``. A pattern matches the whole text. Without separators (the
    default, and what Argo CD passes almost everywhere) ``*`` and ``**`` are the same.

Errors
    :func:`match` is Argo CD's ``glob.Match``: an invalid pattern matches nothing (and is
    logged). :func:`match_with_error` is ``glob.MatchWithError``, for callers that refuse a
    bad pattern instead (sync windows, a Directory source's include/exclude).

Lists
    :func:`match_string_in_list` is Argo CD's ``glob.MatchStringInList`` with its three
    modes (:class:`ListMode`): exact, glob, or glob plus ``/regex/`` entries.

Go's ``filepath.Match``
    One place in Argo CD reads another dialect: an AppProject's group/kind lists
    (``clusterResourceWhitelist`` and friends, ``isResourceInList``) use Go's
    ``filepath.Match``: ``*`` and ``?`` stop at ``/``, classes are ``[^...]`` with any
    number of ranges, no ``{a,b}``. :func:`path_match` is that dialect, kept here so both
    live in one module.

The translation to a Python regular expression mirrors gobwas' lexer and parser, so the
errors are the same patterns gobwas refuses; ``tests/unit/test_glob.py`` runs gobwas' own
test table and Argo CD's ``util/glob`` tests against this module.
"""

from __future__ import annotations

import enum
import functools
import logging
import re
from collections.abc import Iterable

__all__ = [
    "Glob",
    "GlobError",
    "ListMode",
    "compile_glob",
    "is_glob",
    "match",
    "match_string_in_list",
    "match_with_error",
    "path_match",
]

_log = logging.getLogger(__name__)


GLOB_CHARS = frozenset("*?[{")
"""The characters that make a pattern a glob rather than a literal name (``resource.customizations``
keys: an exact key is looked up first, a key holding one of these is tried as a pattern)."""


def is_glob(pattern: str) -> bool:
    """Whether ``pattern`` holds a glob metacharacter (``*``, ``?``, ``[`` or ``{``)."""
    return not GLOB_CHARS.isdisjoint(pattern)


class GlobError(ValueError):
    """A pattern gobwas/glob would refuse to compile; ``reason`` says why."""

    def __init__(self, pattern: str, reason: str) -> None:
        self.pattern = pattern
        self.reason = reason
        super().__init__(f"invalid glob {pattern!r}: {reason}")


class Glob:
    """A compiled pattern; :meth:`match` is gobwas' ``Glob.Match`` (the whole text)."""

    __slots__ = ("_regex", "pattern", "separators")

    def __init__(self, pattern: str, separators: str, regex: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.separators = separators
        self._regex = regex

    def match(self, text: str) -> bool:
        return self._regex.fullmatch(text) is not None

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r}, separators={self.separators!r})"


@functools.lru_cache(maxsize=1024)
def compile_glob(pattern: str, *, separators: str = "") -> Glob:
    """Compile ``pattern``; ``*`` and ``?`` do not match a character of ``separators``.

    Raises :class:`GlobError` where gobwas' ``glob.Compile`` returns an error. Cached, as
    Argo CD caches compiled globs (an invalid pattern raises again each time).
    """
    regex = _Translator(pattern, separators).translate()
    return Glob(pattern, separators, re.compile(regex, re.DOTALL))


def match(pattern: str, text: str, *, separators: str = "") -> bool:
    """Argo CD's ``glob.Match``: does ``text`` match; an invalid pattern matches nothing."""
    try:
        return compile_glob(pattern, separators=separators).match(text)
    except GlobError as err:
        _log.warning("failed to compile pattern %s due to error %s", pattern, err.reason)
        return False


def match_with_error(pattern: str, text: str, *, separators: str = "") -> bool:
    """Argo CD's ``glob.MatchWithError``: as :func:`match`, but an invalid pattern raises
    :class:`GlobError`."""
    return compile_glob(pattern, separators=separators).match(text)


class ListMode(enum.StrEnum):
    """How :func:`match_string_in_list` reads an entry (Argo CD's ``glob.EXACT`` etc.)."""

    EXACT = "exact"
    GLOB = "glob"
    REGEXP = "regexp"
    """A ``/``-wrapped entry is a regular expression searched in the item; others are globs."""


def match_string_in_list(patterns: Iterable[str], item: str, *, mode: ListMode) -> bool:
    """Argo CD's ``glob.MatchStringInList``: does one entry of ``patterns`` match ``item``.

    In :attr:`ListMode.REGEXP` a ``/re/`` entry is searched (not anchored) in ``item``, as
    Argo CD's ``regex.Match`` (regexp2) does; an invalid regex matches nothing, and the
    entry is then also tried as a glob, as in Argo CD. A lone ``/`` is a glob here (Argo
    CD would slice it out of range).
    """
    for entry in patterns:
        if (
            mode is ListMode.REGEXP
            and len(entry) >= 2
            and entry.startswith("/")
            and entry.endswith("/")
            and _regex_search(entry[1:-1], item)
        ):
            return True
        if mode in (ListMode.REGEXP, ListMode.GLOB) and match(entry, item):
            return True
        if mode is ListMode.EXACT and entry == item:
            return True
    return False


def _regex_search(expression: str, item: str) -> bool:
    try:
        return re.search(expression, item) is not None
    except re.error as err:
        _log.warning("failed to compile regular expression %s due to error %s", expression, err)
        return False


def path_match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match(pattern, name)`` with ``/`` separators, as Argo CD matches a
    project's group/kind lists: a malformed pattern (Go's ``ErrBadPattern``) matches nothing."""
    regex = _path_regex(pattern)
    return regex is not None and regex.fullmatch(name) is not None


@functools.lru_cache(maxsize=256)
def _path_regex(pattern: str) -> re.Pattern[str] | None:
    """``filepath.Match``'s grammar as a regular expression; ``None`` for a bad pattern."""
    out: list[str] = []
    i, n = 0, len(pattern)

    def literal(i: int) -> tuple[str, int]:
        """One class character at ``i`` (``\\c`` is ``c``; bare ``-`` or ``]`` is bad)."""
        if i >= n or pattern[i] in "-]":
            raise _BadPattern
        if pattern[i] == "\\":
            i += 1
            if i >= n:
                raise _BadPattern
        return pattern[i], i + 1

    try:
        while i < n:
            c = pattern[i]
            if c == "*":
                out.append("[^/]*")
                i += 1
            elif c == "?":
                out.append("[^/]")
                i += 1
            elif c == "\\":
                if i + 1 >= n:
                    raise _BadPattern
                out.append(re.escape(pattern[i + 1]))
                i += 2
            elif c == "[":
                i += 1
                negate = i < n and pattern[i] == "^"
                i += negate
                items: list[str] = []
                seen = 0
                while not (i < n and pattern[i] == "]" and seen):
                    lo, i = literal(i)
                    hi = lo
                    if i < n and pattern[i] == "-":
                        hi, i = literal(i + 1)
                    seen += 1
                    if lo <= hi:  # Go accepts a reversed range; it matches nothing
                        items.append(f"{re.escape(lo)}-{re.escape(hi)}")
                i += 1
                if items:
                    out.append(f"[{'^' if negate else ''}{''.join(items)}]")
                else:
                    out.append("." if negate else "(?!)")
            else:
                out.append(re.escape(c))
                i += 1
    except _BadPattern:
        return None
    return re.compile("".join(out), re.DOTALL)


class _BadPattern(Exception):
    pass


# --- translation ---------------------------------------------------------------------


class _Translator:
    """gobwas' lexer and parser in one pass, writing a regular expression."""

    def __init__(self, pattern: str, separators: str) -> None:
        self.pattern = pattern
        self.pos = 0
        self.depth = 0
        escaped = "".join(re.escape(s) for s in separators)
        self.any = f"[^{escaped}]*" if separators else ".*"
        self.single = f"[^{escaped}]" if separators else "."

    def error(self, reason: str) -> GlobError:
        return GlobError(self.pattern, reason)

    def translate(self) -> str:
        p, out = self.pattern, []
        while self.pos < len(p):
            c = p[self.pos]
            if c == "{":
                self.depth += 1
                self.pos += 1
                out.append("(?:")
            elif c == "," and self.depth:
                self.pos += 1
                out.append("|")
            elif c == "}" and self.depth:
                self.depth -= 1
                self.pos += 1
                out.append(")")
            elif c == "[":
                self.pos += 1
                out.append(self.char_class())
            elif c == "?":
                self.pos += 1
                out.append(self.single)
            elif c == "*":
                if p.startswith("**", self.pos):
                    self.pos += 2
                    out.append(".*")
                else:
                    self.pos += 1
                    out.append(self.any)
            else:
                breakers = "?*[{" + ("},," if self.depth else "")
                out.append(re.escape(self.text(breakers)))
        if self.depth:
            raise self.error("unclosed `{`")
        return "".join(out)

    def text(self, breakers: str) -> str:
        """Characters up to the next unescaped breaker; ``\\x`` is ``x``."""
        p, chars = self.pattern, []
        while self.pos < len(p):
            c = p[self.pos]
            if c == "\\":
                if self.pos + 1 == len(p):
                    raise self.error("trailing backslash")
                chars.append(p[self.pos + 1])
                self.pos += 2
                continue
            if c in breakers:
                break
            chars.append(c)
            self.pos += 1
        return "".join(chars)

    def char_class(self) -> str:
        """After ``[``: ``!``, then one ``lo-hi`` range or a list of characters, then ``]``."""
        p = self.pattern
        negate = ""
        if p.startswith("!", self.pos):
            negate = "^"
            self.pos += 1
        if self.pos >= len(p):
            raise self.error("unexpected end of input")
        if p.startswith("-", self.pos + 1):
            lo = p[self.pos]
            if self.pos + 2 >= len(p):
                raise self.error("unexpected end of input")
            hi = p[self.pos + 2]
            self.pos += 3
            self.close_class("expected close range character")
            if hi < lo:
                raise self.error("range hi character is less than lo")
            return f"[{negate}{re.escape(lo)}-{re.escape(hi)}]"
        chars = self.text("]")
        self.close_class("unexpected end of input")
        if not chars:
            raise self.error("could not parse range")
        return f"[{negate}{''.join(re.escape(c) for c in chars)}]"

    def close_class(self, reason: str) -> None:
        if self.pos >= len(self.pattern):
            raise self.error("unexpected end of input")
        if self.pattern[self.pos] != "]":
            raise self.error(reason)
        self.pos += 1
