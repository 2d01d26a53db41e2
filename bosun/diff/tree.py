"""JSON-tree helpers the diff modules share: strict equality, emptiness, JSON pointers.

Values here are what ``json.loads`` / ``yaml.safe_load`` produce: dicts, lists, str, int,
float, bool and None. Equality is JSON equality, so ``True`` is not ``1`` (Python would
say it is) and ``1`` is ``1.0``.

JSON pointers follow RFC 6901: ``/spec/template/spec/containers/0/image``, with ``~1``
for ``/`` and ``~0`` for ``~`` inside a token (``/metadata/labels/app.kubernetes.io~1name``).
They are also the form in which changed paths are reported, so a user can copy one
straight into an Application's ``ignoreDifferences.jsonPointers``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: like ``==`` but a bool never equals a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        if not isinstance(b, dict) or a.keys() != b.keys():
            return False
        return all(json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def is_empty(value: Any) -> bool:
    """``None``, ``{}`` and ``[]`` all mean "not set" to the API server's omitempty rules."""
    return value is None or (isinstance(value, dict | list) and not value)


def prune_empty(value: Any) -> Any:
    """Drop map entries that are null, empty maps or empty lists, recursively.

    List elements are kept (even an empty map) so that indices stay meaningful; maps
    inside list elements are pruned. Mutates and returns ``value``.
    """
    if isinstance(value, dict):
        for k in list(value):
            child = prune_empty(value[k])
            if is_empty(child):
                del value[k]
    elif isinstance(value, list):
        for item in value:
            prune_empty(item)
    return value


def escape_token(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(tokens: Sequence[str | int]) -> str:
    """Format path tokens as an RFC 6901 JSON pointer ("" is the whole document)."""
    return "".join("/" + escape_token(t) for t in tokens)


def parse_pointer(ptr: str) -> list[str]:
    """Split an RFC 6901 pointer into unescaped tokens. Raises ValueError if malformed."""
    if ptr == "":
        return []
    if not ptr.startswith("/"):
        raise ValueError(f"JSON pointer {ptr!r} must be empty or start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in ptr[1:].split("/")]


def _list_index(token: str, length: int) -> int | None:
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        return None
    index = int(token)
    return index if index < length else None


def remove_pointer(doc: Any, ptr: str) -> bool:
    """Remove the value at ``ptr`` from ``doc`` in place; False if there was nothing there.

    Like a JSON Patch ``remove`` whose failure is ignored, which is what Argo CD does with
    an ignoreDifferences pointer that does not exist in an object.
    """
    tokens = parse_pointer(ptr)
    if not tokens:
        return False
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                return False
            node = node[token]
        elif isinstance(node, list):
            index = _list_index(token, len(node))
            if index is None:
                return False
            node = node[index]
        else:
            return False
    last = tokens[-1]
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    if isinstance(node, list):
        index = _list_index(last, len(node))
        if index is not None:
            del node[index]
            return True
    return False


def delete_paths(doc: Any, paths: list[list[str | int]]) -> None:
    """Delete token paths (as jq's ``path(...)`` yields them) from ``doc`` in place.

    Like jq's ``delpaths``: deepest and highest list index first, so that deleting one
    list element does not shift the index of another one still to be deleted.
    """

    def sort_key(path: list[str | int]) -> list[tuple[int, int, str]]:
        return [(0, t, "") if isinstance(t, int) else (1, 0, str(t)) for t in path]

    for path in sorted(paths, key=sort_key, reverse=True):
        if not path:
            continue
        node = doc
        for token in path[:-1]:
            node = _child(node, token)
            if node is _MISSING:
                break
        else:
            last = path[-1]
            if isinstance(node, dict) and isinstance(last, str):
                node.pop(last, None)
            elif isinstance(last, int) and _child(node, last) is not _MISSING:
                del node[last]


_MISSING: Any = object()


def _child(node: Any, token: str | int) -> Any:
    if isinstance(node, dict) and isinstance(token, str):
        return node.get(token, _MISSING)
    if isinstance(node, list) and isinstance(token, int) and -len(node) <= token < len(node):
        return node[token]
    return _MISSING


def changed_paths(left: Any, right: Any) -> Iterator[str]:
    """JSON pointers of the places where two documents first diverge, in document order.

    Maps are walked key by key (sorted); lists of equal length element by element; a list
    that changed length, or a value that changed type, is reported as one path.
    """
    yield from _walk_changes(left, right, ())


def _walk_changes(left: Any, right: Any, here: tuple[str | int, ...]) -> Iterator[str]:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(left.keys() | right.keys()):
            if key not in left or key not in right:
                yield pointer((*here, key))
            else:
                yield from _walk_changes(left[key], right[key], (*here, key))
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            yield from _walk_changes(a, b, (*here, index))
    elif not json_equal(left, right):
        yield pointer(here)
