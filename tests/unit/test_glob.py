"""The one glob (:mod:`bosun.glob`) behaves like Argo CD's (gobwas/glob via ``util/glob``)
on their own test cases."""

from __future__ import annotations

import logging

import pytest

from bosun.glob import (
    GlobError,
    ListMode,
    compile_glob,
    is_glob,
    match,
    match_string_in_list,
    match_with_error,
    path_match,
)

# Copied from github.com/gobwas/glob, glob_test.go, TestPatternMatch (stored version
# 062800a435c70ac65ef2932c9b9a1358ea83f31b): (separators, pattern, text, matches).
GOBWAS_PATTERN_MATCH = [
    ("", "a*a*a*a*b", "a" * 100, False),
    ("", "a*a*a*a*b", "a" * 100 + "b", True),
    ("", "{a,ab}c", "abc", True),
    ("", "* ?at * eyes", "my cat has very bright eyes", True),
    ("", "", "", True),
    ("", "", "b", False),
    ("", "*ä", "åä", True),
    ("", "abc", "abc", True),
    ("", "a*c", "abc", True),
    ("", "a*c", "a12345c", True),
    ("", "a?c", "a1c", True),
    (".", "a.b", "a.b", True),
    (".", "a.*", "a.b", True),
    (".", "a.**", "a.b.c", True),
    (".", "a.?.c", "a.b.c", True),
    (".", "a.?.?", "a.b.c", True),
    ("", "?at", "cat", True),
    ("", "?at", "fat", True),
    ("", "*", "abc", True),
    ("", "*a*", "a", True),
    ("", "\\*", "*", True),
    (".", "**", "a.b.c", True),
    ("", "?at", "at", False),
    ("f", "?at", "fat", False),
    (".", "a.*", "a.b.c", False),
    (".", "a.?.c", "a.bb.c", False),
    (".", "*", "a.b.c", False),
    ("", "*test", "this is a test", True),
    ("", "this*", "this is a test", True),
    ("", "*is *", "this is a test", True),
    ("", "*is*a*", "this is a test", True),
    ("", "**test**", "this is a test", True),
    ("", "**is**a***test*", "this is a test", True),
    ("", "*test*", "test", True),
    ("", "*is", "this is a test", False),
    ("", "*no*", "this is a test", False),
    ("", "[!a]*", "this is a test3", True),
    ("", "*abc", "abcabc", True),
    ("", "**abc", "abcabc", True),
    ("", "???", "abc", True),
    ("", "?*?", "abc", True),
    ("", "?*?", "ac", True),
    ("", "sta", "stagnation", False),
    ("", "sta*", "stagnation", True),
    ("", "sta?", "stagnation", False),
    ("", "sta?n", "stagnation", False),
    ("", "{abc,def}ghi", "defghi", True),
    ("", "{abc,abcd}a", "abcda", True),
    ("", "{,a}", "", True),
    ("", "{a,}", "", True),
    ("", "{a,ab}{bc,f}", "abc", True),
    ("", "{*,**}{a,b}", "ab", True),
    ("", "{*,**}{a,b}", "ac", False),
    ("", "/{rate,[a-z][a-z][a-z]}*", "/rate", True),
    ("", "/{rate,[0-9][0-9][0-9]}*", "/rate", True),
    ("", "/{rate,[a-z][a-z][a-z]}*", "/usd", True),
    (".", "{*.google.*,*.yandex.*}", "www.google.com", True),
    (".", "{*.google.*,*.yandex.*}", "www.yandex.com", True),
    (".", "{*.google.*,*.yandex.*}", "yandex.com", False),
    (".", "{*.google.*,*.yandex.*}", "google.com", False),
    (".", "{*.google.*,yandex.*}", "www.google.com", True),
    (".", "{*.google.*,yandex.*}", "yandex.com", True),
    (".", "{*.google.*,yandex.*}", "www.yandex.com", False),
    (".", "{*.google.*,yandex.*}", "google.com", False),
    ("", "*//{,*.}example.com", "https://www.example.com", True),
    ("", "*//{,*.}example.com", "http://example.com", True),
    ("", "*//{,*.}example.com", "http://example.com.net", False),
    (".", "{a*,b}c", "abc", True),
    ("", "[a-z][!a-x]*cat*[h][!b]*eyes*", "my cat has very bright eyes", True),
    ("", "[a-z][!a-x]*cat*[h][!b]*eyes*", "my dog has very bright eyes", False),
    ("", "google.com", "google.com", True),
    ("", "google.com", "gobwas.com", False),
    ("", "https://*.google.*", "https://account.google.com", True),
    ("", "https://*.google.*", "https://google.com", False),
    ("", "{https://*.google.*,*yandex.*,*yahoo.*,*mail.ru}", "http://yahoo.com", True),
    ("", "{https://*.google.*,*yandex.*,*yahoo.*,*mail.ru}", "http://google.com", False),
    ("", "{https://*gobwas.com,http://exclude.gobwas.com}", "https://safe.gobwas.com", True),
    ("", "{https://*gobwas.com,http://exclude.gobwas.com}", "http://safe.gobwas.com", False),
    ("", "{https://*gobwas.com,http://exclude.gobwas.com}", "http://exclude.gobwas.com", True),
    ("", "{abc*[a-c]def,abc?[d-g]def,abc[zte]?def}", "abczqdef", True),
    ("", "{abc*def,abc?def,abc[zte]def}", "abczdef", True),
    ("", "abc*", "abcdef", True),
    ("", "abc*", "af", False),
    ("", "*def", "abcdef", True),
    ("", "*def", "af", False),
    ("", "ab*ef", "abcdef", True),
    ("", "ab*ef", "af", False),
    ("", "{a,ab,abc}", "ab", True),
    ("", "{a,ab,abc}", "", False),
    ("", "{a,ab,abc,abcd}{b,bc,bcd,bcde}{c,cd,cde,cdef}", "abcdbcdecdef", True),
    ("", "{{a,b},c}", "a", True),
    ("", "{{a,b},c}", "c", True),
    (".", "**a*b", ".a.ab", True),
    (".", "**a*b", "axc.ab", True),
    (".", "**a*b", "a.axb", True),
    (".", "*a**b", "xa.b", True),
    (".", "**.x", "a.b.x", True),
    (".", "*a**b", "x.ab", False),
    ("", "*{*0,}", "1", True),
    ("", "{ab*}x", "abzx", True),
    ("", "{ab*}x", "zzx", False),
    ("", "{ab*}", "ab", True),
    ("", "{a}{b}{c}", "abc", True),
    ("", "{**/daxing}/x", "a/daxing/x", True),
    ("", "{**/daxing}/x", "zz/x", False),
    ("", "[!a]", "\ufffd", True),
    ("", "[!a-c]", "\ufffd", True),
    ("", "[\ufffd]", "\ufffd", True),
    ("", "a\ufffdb", "a\ufffdb", True),
    ("", "?", "\ufffd", True),
]

# Copied from gobwas/glob glob_test.go, TestCompileErrors (same version): (pattern, reason).
# Its "invalid utf8" case has no Python equivalent (a str holds code points, not bytes).
GOBWAS_COMPILE_ERRORS = [
    ("{a,b", "unclosed `{`"),
    ("[abc", "unexpected end of input"),
    ("[a-cx]", "expected close range character"),
    ("[c-a]", "range hi character is less than lo"),
    ("a\\", "trailing backslash"),
]

# Copied from gobwas/glob glob_test.go, TestQuoteMeta: quoted meta characters are literals.
GOBWAS_QUOTE_META = [
    ("\\[foo\\*\\]", "[foo*]"),
    ("\\{foo\\*\\}", "{foo*}"),
    ("\\*\\?\\\\\\[\\]\\{\\}", "*?\\[]{}"),
    ("some text and \\*\\?\\\\\\[\\]\\{\\}", "some text and *?\\[]{}"),
]

# Copied from github.com/argoproj/argo-cd util/glob/glob_test.go, Test_Match and
# Test_MatchWithError: (name, text, pattern, matches).
ARGO_MATCH = [
    ("Exact match", "hello", "hello", True),
    ("Non-match exact", "hello", "hell", False),
    ("Long glob match", "hello", "hell*", True),
    ("Short glob match", "hello", "h*", True),
    ("Glob non-match", "hello", "e*", False),
    ("Invalid pattern", "e[[a*", "e[[a*", False),
]

# Argo CD util/glob/glob_test.go, Test_MatchList: (name, item, list, mode, matches).
ARGO_MATCH_LIST = [
    ("Exact name in list", "test", ["test"], ListMode.EXACT, True),
    ("Exact name not in list", "test", ["other"], ListMode.EXACT, False),
    ("Exact name not in list, multiple elements", "test", ["some", "other"], ListMode.EXACT, False),
    ("Exact name not in list, list empty", "test", [], ListMode.EXACT, False),
    ("Exact name not in list, empty element", "test", [""], ListMode.EXACT, False),
    ("Glob name in list, but exact wanted", "test", ["*"], ListMode.EXACT, False),
    ("Glob name in list with simple wildcard", "test", ["*"], ListMode.GLOB, True),
    ("Glob name in list without wildcard", "test", ["test"], ListMode.GLOB, True),
    ("Glob name in list, multiple elements", "test", ["other*", "te*"], ListMode.GLOB, True),
    ("match everything but specified word: fail", "disallowed", ["/^((?!disallowed).)*$/"], ListMode.REGEXP, False),
    ("match everything but specified word: pass", "allowed", ["/^((?!disallowed).)*$/"], ListMode.REGEXP, True),
]


@pytest.mark.parametrize(("separators", "pattern", "text", "matches"), GOBWAS_PATTERN_MATCH)
def test_gobwas_pattern_match(separators: str, pattern: str, text: str, matches: bool) -> None:
    assert compile_glob(pattern, separators=separators).match(text) is matches
    assert match(pattern, text, separators=separators) is matches


@pytest.mark.parametrize(("pattern", "reason"), GOBWAS_COMPILE_ERRORS)
def test_gobwas_compile_errors(pattern: str, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(GlobError) as err:
        compile_glob(pattern)
    assert err.value.reason == reason
    with pytest.raises(GlobError):
        match_with_error(pattern, "anything")
    with caplog.at_level(logging.WARNING, logger="bosun.glob"):
        assert match(pattern, pattern) is False
    assert f"failed to compile pattern {pattern}" in caplog.text


@pytest.mark.parametrize(("quoted", "text"), GOBWAS_QUOTE_META)
def test_gobwas_quoted_meta_characters_are_literal(quoted: str, text: str) -> None:
    assert match_with_error(quoted, text)


@pytest.mark.parametrize(("name", "text", "pattern", "matches"), ARGO_MATCH, ids=[r[0] for r in ARGO_MATCH])
def test_argo_cd_match(name: str, text: str, pattern: str, matches: bool) -> None:
    assert match(pattern, text) is matches


@pytest.mark.parametrize(("name", "text", "pattern", "matches"), ARGO_MATCH, ids=[r[0] for r in ARGO_MATCH])
def test_argo_cd_match_with_error(name: str, text: str, pattern: str, matches: bool) -> None:
    if name == "Invalid pattern":
        with pytest.raises(GlobError, match="unexpected end of input"):
            match_with_error(pattern, text)
    else:
        assert match_with_error(pattern, text) is matches


@pytest.mark.parametrize(
    ("name", "item", "patterns", "mode", "matches"), ARGO_MATCH_LIST, ids=[r[0] for r in ARGO_MATCH_LIST]
)
def test_argo_cd_match_string_in_list(name: str, item: str, patterns: list[str], mode: ListMode, matches: bool) -> None:
    assert match_string_in_list(patterns, item, mode=mode) is matches


def test_argo_cd_separators_are_part_of_the_compiled_glob() -> None:
    """Argo CD's Test_GlobCacheKeyIncludesSeparators: the same pattern, two separator sets."""
    assert match("a*b", "a/b")
    assert not match("a*b", "a/b", separators="/")
    assert match("a*b", "a/b")


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("[a-cx]*", "abc", False),  # issue 12: one translator raised, the other matched; gobwas refuses it
        ("[ab-]", "-", True),  # a list, not a range, when "-" is not second
        ("[!]", "x", False),  # an empty class is an error ("could not parse range")
        ("[]", "]", False),
        ("a,b}", "a,b}", True),  # "," and "}" are literal outside braces
        ("[\\]]", "]", True),
        ("**", "a/b", True),
    ],
)
def test_edge_cases(pattern: str, text: str, matches: bool) -> None:
    assert match(pattern, text) is matches


def test_a_class_is_not_limited_by_separators() -> None:
    """gobwas' List and Range matchers do not look at the separators; only * and ? do."""
    assert match("[!a]", "/", separators="/")
    assert not match("?", "/", separators="/")


def test_separator_class_characters_are_escaped() -> None:
    assert match("a*", "a-b]", separators="]") is False
    assert match("a*", "a^b", separators="]^") is False
    assert match("a*", "ab", separators="]^")


# Copied from github.com/golang/go, src/path/filepath/match_test.go, matchTests (stored
# version 14c40f9472efbb9423f6e98b1681a0ad8a516da8): (pattern, name, matches); the rows
# Go expects ErrBadPattern for are False here, as Argo CD treats the error as no match.
GO_FILEPATH_MATCH = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", False),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("[]a]", "]", False),
    ("[-]", "-", False),
    ("[x-]", "x", False),
    ("[x-]", "-", False),
    ("[x-]", "z", False),
    ("[-x]", "x", False),
    ("[-x]", "-", False),
    ("[-x]", "a", False),
    ("\\", "a", False),
    ("[a-b-c]", "a", False),
    ("[", "a", False),
    ("[^", "a", False),
    ("[^bc", "a", False),
    ("a[", "a", False),
    ("a[", "ab", False),
    ("a[", "x", False),
    ("a/b[", "x", False),
    ("*x", "xxx", True),
]


@pytest.mark.parametrize(("pattern", "name", "matches"), GO_FILEPATH_MATCH)
def test_go_filepath_match(pattern: str, name: str, matches: bool) -> None:
    assert path_match(pattern, name) is matches


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("{apps,batch}", "apps", False),  # no alternatives in filepath.Match: the braces are literal
        ("{apps,batch}", "{apps,batch}", True),
        ("[!a]pps", "apps", True),  # "!" is a class character, not a negation ("^" is)
        ("[c-a]x", "bx", False),  # a reversed range is no error in Go; it matches nothing
        ("[^c-a]x", "bx", True),
        ("", "", True),  # the core group
        ("", "apps", False),
    ],
)
def test_filepath_match_dialect(pattern: str, name: str, matches: bool) -> None:
    assert path_match(pattern, name) is matches


@pytest.mark.parametrize(
    ("pattern", "glob"),
    [
        ("apps/Deployment", False),
        ("Service", False),
        ("*.crossplane.io/*", True),
        ("example.com/Widget?", True),
        ("[ab]pps/Deployment", True),
        ("{apps,batch}/Job", True),
        ("a-b_c.d/e,f}", False),
    ],
)
def test_is_glob_says_which_keys_are_patterns(pattern: str, glob: bool) -> None:
    # resource.customizations: an exact key is looked up first, a key like these is tried as a glob.
    assert is_glob(pattern) is glob
