"""Where an invalid query stops parsing, when the parser's message does not say, is looked for
among its prefixes with a bounded number of parses (``PREFIX_CHARACTERS`` of prefixes): trying
every token end re-parsed the whole prefix each time, 1.4 s of CPU for one invalid 4 KB gate
query, each time its resource was validated. Counted in parser calls, not wall time."""

from __future__ import annotations

from collections.abc import Iterator

import promql_parser
import pytest

from uplift_operator.domain import promql


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The texts the check hands the parser, in order (the cache emptied around the test)."""
    calls: list[str] = []
    real = promql_parser.parse

    def counting(text: str) -> object:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(promql_parser, "parse", counting)
    promql.check.cache_clear()
    yield calls
    promql.check.cache_clear()


@pytest.mark.parametrize("query", [
    "a " + "+ a " * 1020 + "+",                 # a valid prefix one token from the end
    "sum(a) " + "+ sum(a) " * 440 + " +" * 90,  # none within reach
    "sum(a) foo " + "+ b " * 1000,               # the error near the start
])
def test_a_long_invalid_query_is_located_with_a_bounded_number_of_parses(
        parsed: list[str], query: str) -> None:
    query = query[:4096]
    problem = promql.check(query)
    assert problem is not None and problem.message == "invalid promql query"
    prefixes = parsed[1:]  # the first parse is the query's own
    assert parsed[0] == query
    assert sum(map(len, prefixes)) <= promql.PREFIX_CHARACTERS == 32_768
    assert len(parsed) <= 10  # was up to one per token: ~1,000


def test_beyond_the_budget_it_points_at_the_first_token(parsed: list[str]) -> None:
    query = ("  sum(a) foo " + "+ b " * 1000)[:4096]
    problem = promql.check(query)
    assert problem is not None and problem.offset == 2  # not searched further: the first token
    assert len(parsed) == 9  # the query, then its 8 longest prefixes (32,040 characters)


def test_a_short_query_is_still_searched_whole(parsed: list[str]) -> None:
    """Up to 255 characters every token end is tried: the place found is the exact one."""
    query = "sum(a) foo " + "+ b " * 60  # 251 characters, the error at "foo" (column 8)
    problem = promql.check(query)
    assert problem is not None and problem.offset == query.index("foo")
    # The query, then every token end from the last back to that of ``sum(a)`` (the 4th).
    assert len(parsed) == 1 + len(list(promql._TOKEN.finditer(query))) - 3
    assert promql.check("a + b c + d") == promql.SyntaxProblem("invalid promql query", 6)
