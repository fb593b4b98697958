"""Parse Python with tree-sitter and reduce it to a small normalised tree with structural hashes.

The reduced tree keeps what a program means and drops how it is written: comments, docstrings,
parentheses, commas, line breaks and string quote styles are gone, so black-style reformatting
gives the same tree. Every node carries an *exact* hash (identifiers included) computed
bottom-up. :func:`abstract_key` gives a second view in which the names a file binds itself
(variables, parameters, attributes it assigns, its functions and classes) are replaced by their
order of first appearance, so consistent renames (``n_embd`` -> ``model_dim``) compare equal,
while names the file only uses (``torch``, ``F.relu``) stay literal.

Limits: sources over :data:`MAX_BYTES` or :data:`MAX_NODES`, and sources with syntax errors,
raise :class:`ParseFailure`; callers fall back to a line diff and say why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import tree_sitter

from replay.records.definitions import Definition, definitions_in_tree, python_language, python_parser

MAX_BYTES = 2_000_000
MAX_NODES = 300_000

PUNCTUATION = frozenset("( ) [ ] { } , ; . \\ : = -> @ \" '".split()) | {"", "def", "class"}

# Kinds whose block children are bodies (the header is everything else).
COMPOUND = frozenset(
    {
        "if_statement",
        "elif_clause",
        "else_clause",
        "for_statement",
        "while_statement",
        "with_statement",
        "try_statement",
        "except_clause",
        "finally_clause",
        "function_definition",
        "class_definition",
        "decorated_definition",
        "match_statement",
        "case_clause",
    }
)


# Spellings of one construct: `a, b` and `(a, b)`.
ALIASES = {"expression_list": "tuple", "pattern_list": "tuple_pattern"}


def _number(text: str) -> str:
    """One spelling per number: 1e-3, 0.001 and 1_000 vs 1000 compare equal."""
    try:
        value = int(text.replace("_", ""), 0)
        return str(value)
    except ValueError:
        pass
    try:
        return repr(float(text.replace("_", "")))
    except ValueError:
        return text.lower()


class ParseFailure(Exception):
    """The source cannot be diffed structurally (syntax error or over a limit)."""


@dataclass(eq=False, slots=True)
class Node:
    """One node of the reduced tree: a kind, a label (leaf text or operator), children, lines
    (relative to the top-level statement it is part of: see :attr:`Module.offsets`)."""

    kind: str
    label: str
    children: list[Node]
    start: int  # 1-based first line
    end: int  # 1-based last line
    h: int = 0  # exact structural hash
    size: int = 1
    body: list[Node] = field(default_factory=list)  # statements of a compound's blocks

    def walk(self):
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


@dataclass
class Module:
    """A parsed source: its top-level statements (reduced), the line offset of each (add it to
    a node's ``start``/``end`` for the line in the file), the names it binds, and its
    definitions (:mod:`replay.records.definitions`, read from the same syntax tree)."""

    text: str
    statements: list[Node]
    offsets: list[int]
    bound: frozenset[str]
    lines: list[str]
    definitions: list[Definition]


class Cache:
    """Reductions and hashes shared by the scripts of one comparison: a top-level statement
    whose text is identical in record i, record i+1 and the candidate is reduced once (the
    difftastic trick of handling identical subtrees before any expensive work)."""

    def __init__(self):
        self.statements: dict[bytes, Node] = {}
        self.atoms: dict[tuple, tuple] = {}
        self.idents: dict[int, frozenset] = {}


def parse(text: str, cache: Cache | None = None) -> Module:
    """Parse and reduce ``text``; :class:`ParseFailure` if it cannot be."""
    data = text.encode()
    if len(data) > MAX_BYTES:
        raise ParseFailure(f"source is {len(data)} bytes, over the structural-diff limit of {MAX_BYTES}")
    tree = python_parser().parse(data)
    root = tree.root_node
    if root.has_error:
        line = _first_error_line(root)
        raise ParseFailure(f"syntax error near line {line}")
    if root.descendant_count > MAX_NODES:
        raise ParseFailure(f"source has {root.descendant_count} syntax nodes, over the limit of {MAX_NODES}")
    cache = cache or Cache()
    statements, offsets = [], []
    first = True
    for child in root.named_children:
        if child.type == "comment":
            continue
        if first and _is_docstring(child):
            first = False
            continue
        first = False
        key = child.text
        reduced = cache.statements.get(key)
        if reduced is None:
            reduced = _reduce(child, data, child.start_point[0])
            cache.statements[key] = reduced
        if reduced is not None:
            statements.append(reduced)
            offsets.append(child.start_point[0])
    return Module(
        text, statements, offsets, frozenset(_bound_names(root)), text.splitlines(), definitions_in_tree(root)
    )


def _first_error_line(root) -> int:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            return node.start_point[0] + 1
        if node.has_error:
            stack.extend(reversed(node.children))
    return root.start_point[0] + 1


_BOUND_QUERY = """
(assignment left: (identifier) @n)
(assignment left: (attribute attribute: (identifier) @n))
(assignment left: (pattern_list (identifier) @n))
(assignment left: (tuple_pattern (identifier) @n))
(augmented_assignment left: (identifier) @n)
(for_statement left: (identifier) @n)
(for_statement left: (pattern_list (identifier) @n))
(for_in_clause left: (identifier) @n)
(parameters (identifier) @n)
(parameters (default_parameter name: (identifier) @n))
(parameters (typed_parameter (identifier) @n))
(parameters (typed_default_parameter name: (identifier) @n))
(lambda_parameters (identifier) @n)
(function_definition name: (identifier) @n)
(class_definition name: (identifier) @n)
(as_pattern alias: (as_pattern_target (identifier) @n))
"""


@lru_cache(maxsize=1)
def _bound_query():
    return tree_sitter.Query(python_language(), _BOUND_QUERY)


def _bound_names(root) -> set[str]:
    """Names the file binds itself (tree-sitter query); ``self`` and ``cls`` stay literal."""
    captures = tree_sitter.QueryCursor(_bound_query()).captures(root)
    names = {node.text.decode() for node in captures.get("n", [])}
    return names - {"self", "cls", "_"}


def _is_docstring(node) -> bool:
    return (
        node.type == "expression_statement"
        and node.named_child_count == 1
        and node.named_children[0].type in ("string", "concatenated_string")
    )


def _reduce_block(node, data: bytes, docstrings: bool, row: int) -> list[Node]:
    out = []
    first = True
    for child in node.named_children:
        if child.type == "comment":
            continue
        if first and docstrings and _is_docstring(child):
            first = False
            continue
        first = False
        reduced = _reduce(child, data, row)
        if reduced is not None:
            out.append(reduced)
    return out


def _reduce(node, data: bytes, row: int, lines: bool = True) -> Node | None:
    """Reduce one tree-sitter node. Line numbers are kept for statements and the direct
    children of compound statements (what atoms and headers need); deeper nodes get 0."""
    kind = node.type
    if kind == "comment":
        return None
    if kind in ("parenthesized_expression", "expression_statement") and node.named_child_count == 1:
        inner = node.named_children[0]
        if inner.type != "comment":
            return _reduce(inner, data, row, lines)
    if lines:
        start, end = node.start_point[0] + 1 - row, node.end_point[0] + 1 - row
    else:
        start = end = 0
    if kind in ("string", "concatenated_string"):
        return _reduce_string(node, data, start, end, row)
    if kind in ("integer", "float"):
        return finish(Node(kind, _number(node.text.decode()), [], start, end))
    if node.named_child_count == 0:
        return finish(Node(ALIASES.get(kind, kind), node.text.decode(), [], start, end))
    label_parts = []
    children = []
    body = []
    compound = kind in COMPOUND
    for child in node.children:
        ctype = child.type
        if not child.is_named:
            if kind == "slice" and ctype == ":":
                label_parts.append(":")
            elif ctype not in PUNCTUATION:
                label_parts.append(ctype)
            continue
        if ctype == "comment":
            continue
        if ctype == "block":
            stmts = _reduce_block(child, data, kind in ("function_definition", "class_definition"), row)
            body.extend(stmts)
            children.append(
                finish(Node("block", "", stmts, child.start_point[0] + 1 - row, child.end_point[0] + 1 - row))
            )
            continue
        if kind == "slice":
            label_parts.append("E")
        reduced = _reduce(child, data, row, compound or kind == "decorator")
        if reduced is not None:
            if kind == "keyword_argument" and not children and reduced.kind == "identifier":
                reduced = finish(Node("keyword", reduced.label, [], reduced.start, reduced.end))  # never renamed
            children.append(reduced)
            if compound and reduced.kind in COMPOUND:
                body.append(reduced)  # elif/else/except clauses are part of the statement's body
    n = finish(Node(ALIASES.get(kind, kind), " ".join(label_parts), children, start, end))
    n.body = body
    return n


def _reduce_string(node, data: bytes, start: int, end: int, row: int) -> Node:
    parts, children = [], []
    stack = list(reversed(node.children))
    while stack:
        child = stack.pop()
        if child.type in ("string_content", "escape_sequence"):
            parts.append(child.text.decode())
        elif child.type == "interpolation":
            parts.append("{}")
            for sub in child.named_children:
                reduced = _reduce(sub, data, row, False)
                if reduced is not None:
                    children.append(reduced)
        elif child.type == "string":
            stack.extend(reversed(child.children))
    return finish(Node("string", "".join(parts), children, start, end))


def finish(node: Node) -> Node:
    """Set a node's structural hash and size from its children (call after building it)."""
    hashes = []
    size = 1
    for c in node.children:
        hashes.append(c.h)
        size += c.size
    node.h = hash((node.kind, node.label, tuple(hashes)))
    node.size = size
    return node


def header(node: Node) -> Node:
    """A compound statement without its bodies (``if cond:``, ``def f(x):``)."""
    children = [c for c in node.children if c.kind != "block" and c.kind not in COMPOUND]
    end = node.start
    for c in children:
        end = max(end, c.end)
    return finish(Node(node.kind + ":header", node.label, children, node.start, end))


def abstract_key(node: Node, bound: frozenset[str], names: dict[str, int] | None = None, literals: bool = False) -> int:
    """Hash of ``node`` with bound identifiers numbered by first appearance (consistent
    renames compare equal); with ``literals``, numbers are abstracted too."""
    names = {} if names is None else names

    def key(n: Node) -> int:
        label = n.label
        if n.kind == "identifier" and label in bound:
            label = f"${names.setdefault(label, len(names))}"
        elif literals and n.kind in ("integer", "float"):
            label = "#"
        return hash((n.kind, label, tuple(key(c) for c in n.children)))

    return key(node)


def abstract_and_tokens(node: Node, bound: frozenset[str]) -> tuple[int, Counter]:
    """:func:`abstract_key` and :func:`tokens` of ``node`` in one walk."""
    names: dict[str, int] = {}
    out: Counter = Counter()

    def key(n: Node) -> int:
        label = n.label
        if n.kind == "identifier" and label in bound:
            out[("identifier", "$")] += 1
            out[("name", label)] += 1
            label = f"${names.setdefault(label, len(names))}"
        else:
            out[(n.kind, label)] += 1
        return hash((n.kind, label, tuple([key(c) for c in n.children])))

    return key(node), out


def bound_sequence(node: Node, bound: frozenset[str]) -> list[str]:
    """Bound identifiers of ``node`` in order of first appearance."""
    seen: dict[str, None] = {}
    for n in node.walk():
        if n.kind == "identifier" and n.label in bound:
            seen.setdefault(n.label, None)
    return list(seen)


def tokens(node: Node, bound: frozenset[str]) -> Counter:
    """Multiset of (kind, label) over the subtree (for similarity); a bound identifier counts
    once anonymised and once by name, so renames cost half of what other changes do."""
    out: Counter = Counter()
    for n in node.walk():
        if n.kind == "identifier" and n.label in bound:
            out[("identifier", "$")] += 1
            out[("name", n.label)] += 1  # breaks ties between otherwise equal statements
        else:
            out[(n.kind, n.label)] += 1
    return out


def identifiers(node: Node) -> frozenset[str]:
    """Every identifier label in the subtree (for anchor references). Memoised: reduced trees never
    change once built, and one statement's node is shared by every version that has its text."""
    return _identifiers(node)


@lru_cache(maxsize=1 << 16)
def _identifiers(node: Node) -> frozenset[str]:
    return frozenset(n.label for n in node.walk() if n.kind == "identifier")


def similarity(a: Counter, b: Counter) -> float:
    """Dice coefficient of two token multisets, in [0, 1]."""
    total = a.total() + b.total()
    if not total:
        return 1.0
    if len(a) > len(b):
        a, b = b, a
    common = 0
    for k, n in a.items():
        m = b.get(k)
        if m:
            common += n if n < m else m
    return 2 * common / total
