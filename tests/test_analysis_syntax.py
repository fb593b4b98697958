"""The normalised tree ignores how code is written (formatting, comments, docstrings, quotes,
parentheses, number spellings) but not what it does, and consistent renames compare equal only
in the abstract view; broken or oversized input is refused with a reason."""

import pytest

from analysis import syntax
from analysis.syntax import ParseFailure, abstract_key, parse


def stmt_hashes(text):
    return [s.h for s in parse(text).statements]


def test_formatting_comments_docstrings_do_not_count():
    a = 'def f(x, y):\n    """Doc."""\n    return g(x, y)  # comment\n'
    b = "def f(\n    x,\n    y,\n):\n    # another comment\n    return (g(\n        x, y,\n    ))\n"
    assert stmt_hashes(a) == stmt_hashes(b)


def test_quotes_tuples_and_numbers_are_normalised():
    assert stmt_hashes("x = 'a'\ny = 1e-3\nq, k = a, b\n") == stmt_hashes('x = "a"\ny = 0.001\n(q, k) = (a, b)\n')


@pytest.mark.parametrize(
    "a, b",
    [
        ("y = F.gelu(x)\n", "y = F.relu(x)\n"),
        ("y = x[..., :d]\n", "y = x[..., d:]\n"),
        ("y = a + b\n", "y = a - b\n"),
        ("y = f(x, scale=1)\n", "y = f(x, bias=1)\n"),
    ],
)
def test_real_changes_are_seen(a, b):
    assert stmt_hashes(a) != stmt_hashes(b)


def test_consistent_renames_are_equal_only_abstractly():
    a = parse("def f(n_embd):\n    h = n_embd * 2\n    return torch.relu(h)\n")
    b = parse("def f(model_dim):\n    hidden = model_dim * 2\n    return torch.relu(hidden)\n")
    (fa,), (fb,) = a.statements, b.statements
    assert fa.h != fb.h
    assert abstract_key(fa, a.bound) == abstract_key(fb, b.bound)
    c = parse("def f(model_dim):\n    hidden = model_dim * 2\n    return torch.gelu(hidden)\n")
    assert abstract_key(fa, a.bound) != abstract_key(c.statements[0], c.bound)  # free names stay literal


def test_syntax_errors_and_limits_raise_parse_failure(monkeypatch):
    with pytest.raises(ParseFailure, match="syntax error near line 2"):
        parse("x = 1\ndef f(:\n")
    monkeypatch.setattr(syntax, "MAX_BYTES", 10)
    with pytest.raises(ParseFailure, match="over the structural-diff limit"):
        parse("x = 1\n" * 10)
