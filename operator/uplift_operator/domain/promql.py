"""PromQL syntax checks of gate queries, with where the problem is.

Role: ``domain.validation`` asks ``check`` about every gate query (after template expansion), so a
query Prometheus would refuse is an ``InvalidSpec`` naming the gate and the position, not a gate
Error at the first canary. The grammar is promql-parser's (the Rust parser GreptimeDB uses,
written to Prometheus' grammar, types and function signatures included). It says *what* is wrong
but not *where*; ``_locate`` finds where from the message and a small scan of the text
(delimiters, string literals, the quoted token), else as the first token after the longest
prefix that parses (as long as ``PREFIX_CHARACTERS`` of prefixes parsed lasts; else the first
token). Pure: no I/O.

Which Prometheus: the parser's function table follows Prometheus' current one (3.x, its
experimental functions included), so it refused 2.x's ``holt_winters``, which 3.0 renamed
``double_exponential_smoothing``: a gate a Prometheus 2 answers could never be written. The
check cannot know the server's version, and a query it passes that the server refuses still
ends as the gate's Error with Prometheus' own words, while one it refuses can never run; so it
accepts the union: ``holt_winters`` is registered as an extra function
(``PROMETHEUS_2_FUNCTIONS``). docs/operator.md, "What the operator refuses".
"""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass

import promql_parser

__all__ = ["PROMETHEUS_2_FUNCTIONS", "SyntaxProblem", "check", "position"]

#: Functions of Prometheus 2.x that 3.x dropped and the bundled parser does not know, with 2.x's
#: signature: ``holt_winters(range-vector, sf scalar, tf scalar)`` (3.0 renamed it
#: ``double_exponential_smoothing``, which 2.x refuses and the parser knows).
PROMETHEUS_2_FUNCTIONS = (
    promql_parser.Function("holt_winters", [promql_parser.ValueType.Matrix,
                                            promql_parser.ValueType.Scalar,
                                            promql_parser.ValueType.Scalar],
                           promql_parser.ValueType.Vector),
)


def _register_prometheus_2_functions() -> None:
    """Make the parser accept ``PROMETHEUS_2_FUNCTIONS`` (process-wide; this module is the only
    one of the operator that parses PromQL). A parser whose own table has one again refuses
    the registration: it knows the function already."""
    for function in PROMETHEUS_2_FUNCTIONS:
        with contextlib.suppress(ValueError):
            promql_parser.register_extra_functions([function])


_register_prometheus_2_functions()

_CLOSERS = {")": "(", "]": "[", "}": "{"}
_OPENER_NAMES = {"(": "parenthesis", "[": "bracket", "{": "brace"}
#: At most this many characters of prefixes are parsed to find where a query stops parsing
#: when the parser's message does not tell (``_after_longest_valid_prefix``): 8 prefixes of a
#: 4 KB query, every token end of one of up to 128 tokens and 255 characters.
PREFIX_CHARACTERS = 32_768
_TOKEN = re.compile(r"[A-Za-z0-9_:.]+|==|!=|=~|!~|<=|>=|\S")
_QUOTED = re.compile(r"'([^']+)'")


@dataclass(frozen=True)
class SyntaxProblem:
    """What the parser refused (its own words) and the 0-based offset it is about."""

    message: str
    offset: int


@functools.lru_cache(maxsize=512)
def check(query: str) -> SyntaxProblem | None:
    """None when ``query`` parses as PromQL; else the parser's message and where (cached: an
    invalid resource is validated again on every pass until it is fixed)."""
    message = _parse_error(query)
    if message is None:
        return None
    return SyntaxProblem(message, _locate(query, message))


def position(text: str, offset: int) -> str:
    """``column 12`` (``line 2, column 5`` in a multi-line text) with the text found there."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    where = f"line {line}, column {column}" if "\n" in text else f"column {column}"
    found = text[offset:offset + 20].split("\n", 1)[0]
    return f"{where} ({'at ' + repr(found) if found.strip() else 'at the end'})"


def _parse_error(query: str) -> str | None:
    try:
        promql_parser.parse(query)
    except ValueError as error:
        return str(error) or "invalid promql query"
    return None


@dataclass
class _Scan:
    """Delimiters and string literals of a query, outside strings and comments."""

    unclosed: list[tuple[str, int]]
    unmatched: list[tuple[str, int]]
    unterminated: int | None
    code: list[bool]  # per character: outside string literals and comments


def _scan(query: str) -> _Scan:
    stack: list[tuple[str, int]] = []
    unmatched: list[tuple[str, int]] = []
    code = [True] * len(query)
    i = 0
    while i < len(query):
        char = query[i]
        if char in "\"'`":
            end = i + 1
            while end < len(query) and query[end] != char:
                end += 2 if query[end] == "\\" and char != "`" else 1
            code[i:end + 1] = [False] * (min(end + 1, len(query)) - i)
            if end >= len(query):
                return _Scan(stack, unmatched, i, code)
            i = end + 1
            continue
        if char == "#":
            end = query.find("\n", i)
            end = len(query) if end < 0 else end
            code[i:end] = [False] * (end - i)
            i = end
            continue
        if char in _OPENER_NAMES:
            stack.append((char, i))
        elif char in _CLOSERS:
            if stack and stack[-1][0] == _CLOSERS[char]:
                stack.pop()
            else:
                unmatched.append((char, i))
        i += 1
    return _Scan(stack, unmatched, None, code)


def _locate(query: str, message: str) -> int:
    scan = _scan(query)
    lowered = message.lower()
    if lowered.startswith("unterminated quoted string") and scan.unterminated is not None:
        return scan.unterminated
    if lowered.startswith("no expression found"):
        return 0
    for opener, name in _OPENER_NAMES.items():
        unclosed = lowered.startswith(f"unclosed left {name}")
        ended_inside = lowered.startswith("unexpected end of input inside") and f"{name}s" in lowered
        if unclosed or ended_inside:
            found = [at for kind, at in scan.unclosed if kind == opener]
            if found:
                return found[0]
    for closer, opener in _CLOSERS.items():
        if lowered.startswith(f"unexpected right {_OPENER_NAMES[opener]}"):
            found = [at for kind, at in scan.unmatched if kind == closer]
            if found:
                return found[0]
    quoted = _QUOTED.search(message)
    if quoted is not None:
        at = _find_token(query, quoted.group(1), scan.code, inside_brackets="inside brackets"
                         in lowered)
        if at is not None:
            return at
    return _after_longest_valid_prefix(query)


def _find_token(query: str, token: str, code: list[bool], inside_brackets: bool) -> int | None:
    """The first occurrence of ``token`` in code (a whole word when it is one)."""
    word = len(token) > 1 and (token[:1].isalnum() or token[:1] == "_")
    pattern = re.compile((r"(?<![A-Za-z0-9_:])" + re.escape(token) + r"(?![A-Za-z0-9_:])")
                         if word else re.escape(token))
    for match in pattern.finditer(query):
        at = match.start()
        if not code[at]:
            continue
        if inside_brackets:
            depth = query.count("[", 0, at) - query.count("]", 0, at)
            if depth <= 0:
                continue
        return at
    return None


def _after_longest_valid_prefix(query: str) -> int:
    """The first token after the longest prefix (cut at a token end) that parses, trying the
    longest first until ``PREFIX_CHARACTERS`` characters of prefixes have been parsed; else the
    first token. Each try parses the whole prefix again, so trying every one cost a quadratic
    time (1.4 s of CPU for an invalid 4 KB query, every time its resource was validated); and
    whether a prefix parses is not monotone (``sum(`` does not, ``sum(x)`` does), so no
    bisection finds the longest. A query of up to 255 characters is still searched whole."""
    tokens = list(_TOKEN.finditer(query))
    budget = PREFIX_CHARACTERS
    for index in range(len(tokens) - 1, -1, -1):
        end = tokens[index].end()
        if end > budget:
            break
        budget -= end
        if _parse_error(query[:end]) is None:
            return tokens[index + 1].start() if index + 1 < len(tokens) else len(query)
    return tokens[0].start() if tokens else 0
