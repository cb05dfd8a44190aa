"""What a MikroTik router does to a hotspot page before serving it, for tests of the pages:
``$(name)`` variables and ``$(if ...)/$(elif ...)/$(else)/$(endif)`` (nested), and the way it
writes ``chap-id`` and ``chap-challenge`` (every byte octal-escaped: ``\\371``), plus the
decoding of the JavaScript string literals those land in."""
from __future__ import annotations

import re
import urllib.parse

_TOKEN = re.compile(r"\$\((if|elif) ([^)]*)\)|\$\((else|endif)\)|\$\(([A-Za-z0-9-]+)\)")
_COND = re.compile(r"""^\s*([A-Za-z0-9-]+)\s*(?:(==|!=)\s*(?:'([^']*)'|"([^"]*)"|([A-Za-z0-9.-]+)))?\s*$""")


def octal(data: bytes) -> str:
    """Bytes as RouterOS writes ``$(chap-id)`` and ``$(chap-challenge)``: ``\\ooo`` each."""
    return "".join(f"\\{b:03o}" for b in data)


def router_values(**values: str) -> dict[str, str]:
    """``values`` (underscores for dashes) plus the ``-esc`` form of each, as RouterOS offers them."""
    out = {k.replace("_", "-"): v for k, v in values.items()}
    for k, v in list(out.items()):
        out.setdefault(k + "-esc", urllib.parse.quote_plus(v))
    return out


def _holds(cond: str, values: dict[str, str]) -> bool:
    m = _COND.match(cond)
    if m is None:
        raise ValueError(f"condition RouterOS would not read: {cond!r}")
    name, op, a, b, bare = m.groups()
    have = values.get(name, "")
    if op is None:
        return have != ""
    want = next(x for x in (a, b, bare) if x is not None)
    return (have == want) if op == "==" else (have != want)


def fill(page: str, values: dict[str, str]) -> str:
    """``page`` as the router serves it with ``values`` (unknown variables are empty)."""
    out: list[str] = []
    # each frame: (outer active, a branch already taken, this branch active)
    stack: list[tuple[bool, bool, bool]] = []
    active = True
    pos = 0
    for m in _TOKEN.finditer(page):
        if active:
            out.append(page[pos:m.start()])
        pos = m.end()
        kind, cond, bare, name = m.groups()
        if kind == "if":
            holds = active and _holds(cond, values)
            stack.append((active, holds, holds))
            active = holds
        elif kind == "elif":
            outer, taken, _ = stack.pop()
            holds = outer and not taken and _holds(cond, values)
            stack.append((outer, taken or holds, holds))
            active = holds
        elif bare == "else":
            outer, taken, _ = stack.pop()
            stack.append((outer, True, outer and not taken))
            active = outer and not taken
        elif bare == "endif":
            outer, _, _ = stack.pop()
            active = outer
        elif active:
            out.append(values.get(name, ""))
    assert not stack, "an $(if) without its $(endif)"
    if active:
        out.append(page[pos:])
    return "".join(out)


def js_string(literal: str) -> str:
    """The value of the body of a single-quoted JavaScript string literal (sloppy mode: octal escapes)."""
    out = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
    while i < len(literal):
        c = literal[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        m = re.match(r"[0-7]{1,3}", literal[i + 1:])
        if m and int(m.group(), 8) <= 0o377:
            out.append(chr(int(m.group(), 8)))
            i += 1 + len(m.group())
            continue
        nxt = literal[i + 1]
        out.append(simple.get(nxt, nxt))
        i += 2
    return "".join(out)


_CHAP = re.compile(r"var chap = \{id: '((?:[^'\\]|\\.)*)', challenge: '((?:[^'\\]|\\.)*)'\}")


def chap_literals(page: str) -> tuple[str, str]:
    """The chap-id and chap-challenge string literals (their bodies, as written) in a served login page."""
    m = _CHAP.search(page)
    assert m is not None, "no chap values in the page"
    return m.group(1), m.group(2)
