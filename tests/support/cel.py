"""A small evaluator for the subset of CEL our CRDs' x-kubernetes-validations rules use.

No CEL library is a dependency, and the integration tests (a real API server) are slow, so the
unit tests check a rule's generated text here: literals (strings, numbers, true, false, lists),
``self`` and field selection (a property name escaped as Kubernetes does: ``__dash__``),
``has(self.x)``, ``!``, ``== != < <= > >= in``, ``&&``, ``||``,
``c ? a : b``, ``oldSelf`` (a transition rule, given the old object), ``string(x)`` of an int
or a string, the Kubernetes quantity library's ``quantity(s)`` and ``q.compareTo(q)``, and
what ``api.v1alpha1.common.cel_seconds`` (a Duration's seconds) is made of: ``double(s)``,
``*`` and ``-`` of two numbers of one type (and a negative literal, ``-1.0``), ``l[i]`` and
``l.size()`` of a list, ``s.findAll(re)``, ``s.find(re)``, ``s.endsWith(t)``, the list
library's ``l.sum()`` and the macros ``l.map(x, e)`` and ``l.all(x, e)`` (RE2 read as
Python's ``re``: the same for the expressions the rules use). Reading an absent field raises
``NoSuchKeyError``, as the API server's CEL does ("no such key"): a rule that reads an
optional field without ``has`` is an error there, which a test must see; ``&&`` and ``||``
are commutative over such errors, as in CEL. Anything outside the subset raises
``UnsupportedError``, so a rule this cannot read fails its test rather than passing it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from uplift_operator.api.v1alpha1.common import quantity_value

__all__ = ["NoSuchKeyError", "UnsupportedError", "evaluate"]

_TOKEN = re.compile(r"\s*(?:\d+(?:\.\d+)?|'(?:[^'\\]|\\.)*'|[A-Za-z_][A-Za-z0-9_]*"
                    r"|==|!=|<=|>=|&&|\|\||[!<>?:.,()\[\]*-])")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge}
_RELATIONS = (*_COMPARE, "in")

Node = tuple[Any, ...]


#: Kubernetes' escaping of a property name in a rule (``apiextensions`` CEL: ``ephemeral-storage``
#: is read as ``ephemeral__dash__storage``), undone in field selection and ``has``.
_ESCAPES = {"__underscores__": "__", "__dot__": ".", "__dash__": "-", "__slash__": "/"}


def _unescape(name: str) -> str:
    return re.sub("|".join(_ESCAPES), lambda m: _ESCAPES[m.group()], name)


class NoSuchKeyError(KeyError):
    """An absent field read without ``has``: the API server's CEL refuses the object."""


class UnsupportedError(ValueError):
    """Syntax outside the subset this evaluator reads."""


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    at, end = 0, len(text.rstrip())
    while at < end:
        found = _TOKEN.match(text, at)
        if found is None:
            raise UnsupportedError(f"cannot read {text[at:]!r}")
        out.append(found.group().strip())
        at = found.end()
    return out


@dataclass
class _Parser:
    tokens: list[str]
    at: int = field(default=0)
    bound: set[str] = field(default_factory=set)  # the variables of the macros being read

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise UnsupportedError(f"expected {expected!r}, got {token!r}")
        self.at += 1
        return token

    def ternary(self) -> Node:
        condition = self.logical("||", self.conjunction)
        if self.peek() != "?":
            return condition
        self.take("?")
        then = self.ternary()
        self.take(":")
        return ("?", condition, then, self.ternary())

    def conjunction(self) -> Node:
        return self.logical("&&", self.relation)

    def logical(self, op: str, operand: Any) -> Node:
        operands = [operand()]
        while self.peek() == op:
            self.take()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else (op, *operands)

    def relation(self) -> Node:
        left = self.difference()
        if self.peek() in _RELATIONS:
            return (self.take(), left, self.difference())
        return left

    def difference(self) -> Node:
        value = self.product()
        while self.peek() == "-":
            self.take()
            value = ("-", value, self.product())
        return value

    def product(self) -> Node:
        value = self.unary()
        while self.peek() == "*":
            self.take()
            value = ("*", value, self.unary())
        return value

    def unary(self) -> Node:
        if self.peek() == "!":
            self.take()
            return ("!", self.unary())
        if self.peek() == "-":
            self.take()
            return ("negate", self.unary())
        value = self.primary()
        while self.peek() in (".", "["):
            if self.take() == "[":
                value = ("index", value, self.ternary())
                self.take("]")
                continue
            name = self.take()
            if self.peek() == "(" and name in _MACROS:
                value = self.macro(name, value)
            elif self.peek() == "(":
                if name not in _METHODS:
                    raise UnsupportedError(f"cannot read method {name!r}")
                value = ("method", name, value, *self.arguments())
            else:
                value = (".", value, _unescape(name))
        return value

    def macro(self, name: str, target: Node) -> Node:
        self.take("(")
        variable = self.take()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable) or variable == "self":
            raise UnsupportedError(f"{name}() binds {variable!r}")
        self.take(",")
        outer = set(self.bound)
        self.bound.add(variable)
        body = self.ternary()
        self.bound = outer
        self.take(")")
        return ("macro", name, target, variable, body)

    def arguments(self) -> list[Node]:
        self.take("(")
        items = []
        while self.peek() != ")":
            items.append(self.ternary())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return items

    def primary(self) -> Node:
        token = self.take()
        if token == "(":
            value = self.ternary()
            self.take(")")
            return value
        if token == "[":
            items = []
            while self.peek() != "]":
                items.append(self.ternary())
                if self.peek() == ",":
                    self.take()
            self.take("]")
            return ("list", *items)
        if token == "has":
            self.take("(")
            target = self.unary()
            self.take(")")
            if target[0] != ".":
                raise UnsupportedError("has() takes a field selection")
            return ("has", target[1], target[2])
        if token in _FUNCTIONS and self.peek() == "(":
            return ("call", token, *self.arguments())
        if token in ("self", "oldSelf"):
            return ("self",) if token == "self" else ("oldSelf",)
        if token in self.bound:
            return ("var", token)
        if token in ("true", "false"):
            return ("literal", token == "true")
        if token.startswith("'"):
            return ("literal", token[1:-1])
        if re.fullmatch(r"\d+(\.\d+)?", token):
            return ("literal", float(token) if "." in token else int(token))
        raise UnsupportedError(f"cannot read {token!r}")


def _eval(node: Node, env: Mapping[str, Any]) -> Any:
    """``node``'s value; ``env``: ``self`` and the variables of the macros around it."""
    kind = node[0]
    if kind == "literal":
        return node[1]
    if kind == "self":
        return env["self"]
    if kind == "oldSelf":
        if "oldSelf" not in env:
            raise UnsupportedError("oldSelf outside a transition (give old_self)")
        return env["oldSelf"]
    if kind == "var":
        return env[node[1]]
    if kind == "macro":
        return _macro(node, env)
    if kind == "list":
        return [_eval(item, env) for item in node[1:]]
    if kind == ".":
        parent = _eval(node[1], env)
        if not isinstance(parent, Mapping):
            raise UnsupportedError(f"field {node[2]!r} of a {type(parent).__name__}")
        if node[2] not in parent:
            raise NoSuchKeyError(node[2])
        return parent[node[2]]
    if kind == "has":
        parent = _eval(node[1], env)
        return isinstance(parent, Mapping) and node[2] in parent
    if kind == "call":
        return _FUNCTIONS[node[1]](*(_eval(arg, env) for arg in node[2:]))
    if kind == "method":
        target = _eval(node[2], env)
        return _METHODS[node[1]](target, *(_eval(arg, env) for arg in node[3:]))
    if kind == "!":
        return not _bool(_eval(node[1], env))
    if kind == "negate":
        number = _eval(node[1], env)
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise UnsupportedError(f"-{number!r}: a number only")
        return -number
    if kind in ("||", "&&"):
        decides = kind == "||"
        error: NoSuchKeyError | None = None
        for operand in node[1:]:
            try:
                if _bool(_eval(operand, env)) is decides:
                    return decides
            except NoSuchKeyError as raised:
                error = raised
        if error is not None:
            raise error
        return not decides
    if kind == "?":
        return _eval(node[2] if _bool(_eval(node[1], env)) else node[3], env)
    left, right = _eval(node[1], env), _eval(node[2], env)
    if kind == "in":
        return left in right
    if kind == "*":
        if type(left) is not float or type(right) is not float:  # CEL: no mixed arithmetic
            raise UnsupportedError(f"{left!r} * {right!r}: two doubles only")
        return left * right
    if kind == "-":
        if type(left) is not type(right) or type(left) not in (int, float):  # no mixed either
            raise UnsupportedError(f"{left!r} - {right!r}: two numbers of one type only")
        return left - right
    if kind == "index":
        if not isinstance(left, list) or type(right) is not int:
            raise UnsupportedError(f"{left!r}[{right!r}]: a list by an int only")
        if not 0 <= right < len(left):  # the API server's CEL: an error, the object refused
            raise UnsupportedError(f"index {right} out of range")
        return left[right]
    return _COMPARE[kind](left, right)


def _macro(node: Node, env: Mapping[str, Any]) -> Any:
    _, name, target, variable, body = node
    items = _eval(target, env)
    if not isinstance(items, list):
        raise UnsupportedError(f"{name}() of a {type(items).__name__}")
    values = [_eval(body, {**env, variable: item}) for item in items]
    return values if name == "map" else all(_bool(value) for value in values)


@dataclass(frozen=True)
class _Quantity:
    """A value of CEL's Kubernetes ``Quantity`` type (compared with ``compareTo`` only)."""

    value: Fraction


def _string(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UnsupportedError(f"string() of {value!r}")
    return str(value)


def _quantity(text: Any) -> _Quantity:
    if not isinstance(text, str):  # no overload for an int: the API server refuses the object
        raise UnsupportedError(f"quantity() of {text!r}, not a string")
    value = quantity_value(text)
    if value is None:
        raise UnsupportedError(f"quantity() cannot parse {text!r}")
    return _Quantity(value)


def _compare_to(left: Any, right: Any) -> int:
    if not (isinstance(left, _Quantity) and isinstance(right, _Quantity)):
        raise UnsupportedError("compareTo() takes two quantities")
    return (left.value > right.value) - (left.value < right.value)


def _double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UnsupportedError(f"double() of {value!r}")
    return float(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise UnsupportedError(f"{what} of {value!r}, not a string")
    return value


def _find_all(text: Any, pattern: Any) -> list[str]:
    return [m.group() for m in re.finditer(_text(pattern, "findAll()"), _text(text, "findAll()"))]


def _find(text: Any, pattern: Any) -> str:
    found = re.search(_text(pattern, "find()"), _text(text, "find()"))
    return found.group() if found else ""


def _ends_with(text: Any, suffix: Any) -> bool:
    return _text(text, "endsWith()").endswith(_text(suffix, "endsWith()"))


def _size(items: Any) -> int:
    if not isinstance(items, list | str):
        raise UnsupportedError(f"size() of {items!r}")
    return len(items)


def _sum(items: Any) -> float:
    if not isinstance(items, list) or not all(type(item) is float for item in items):
        raise UnsupportedError(f"sum() of {items!r}: a list of doubles only")
    return sum(items, 0.0)


_FUNCTIONS: dict[str, Callable[..., Any]] = {"string": _string, "quantity": _quantity,
                                             "double": _double}
_METHODS: dict[str, Callable[..., Any]] = {"compareTo": _compare_to, "findAll": _find_all,
                                           "find": _find, "endsWith": _ends_with, "sum": _sum,
                                           "size": _size}
_MACROS = frozenset({"map", "all"})


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise UnsupportedError(f"{value!r} is not a bool")
    return value


def evaluate(rule: str, self_value: Mapping[str, Any], *,
             old_self: Mapping[str, Any] | None = None) -> bool:
    """The rule's verdict on ``self_value`` (the object at the rule's place in the schema);
    ``old_self``: the object before an update, for a transition rule (``oldSelf``)."""
    parser = _Parser(_tokens(rule))
    tree = parser.ternary()
    if parser.peek() is not None:
        raise UnsupportedError(f"unread: {' '.join(parser.tokens[parser.at:])}")
    env = {"self": self_value} if old_self is None else {"self": self_value, "oldSelf": old_self}
    return _bool(_eval(tree, env))
