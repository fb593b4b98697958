"""The library is layered without cycles: foundation (errors, paths, atomic writes, statuses) <-
score, data <- records <- run, importer <- analysis <- agent <- cli. A module imports only its
own layer and layers below it (lazy imports inside functions included), every module belongs to
a layer, and no chain of imports leads back to its start. The checker itself is shown to catch
an upward import and a cycle."""

from pathlib import Path

from import_layers import Layer, cycles, import_graph, violations

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("replay", "analysis", "agent")
LAYERS = [
    Layer("foundation", 0, ("replay", "replay.errors", "replay.paths", "replay.atomic", "replay.statuses")),
    Layer("score", 1, ("replay.score",)),
    Layer("data", 1, ("replay.data",)),
    Layer("records", 2, ("replay.records",)),
    Layer("run", 3, ("replay.run",)),
    Layer("importer", 3, ("replay.importer",)),
    Layer("analysis", 4, ("analysis",)),
    Layer("agent", 5, ("agent",)),
    Layer("cli", 6, ("replay.cli",)),
]


def test_the_library_respects_its_layers():
    graph = import_graph(ROOT, PACKAGES)
    assert len(graph) > 50 and graph["replay.cli.app"]  # the graph was read, not empty
    assert violations(graph, LAYERS) == []


def test_the_foundation_imports_nothing_of_ours_above_it():
    graph = import_graph(ROOT, PACKAGES)
    for module in ("replay.errors", "replay.paths", "replay.atomic", "replay.statuses"):
        assert graph[module] <= {"replay.errors", "replay.paths", "replay.atomic", "replay.statuses"}, module


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_catches_upward_and_lazy_imports_and_cycles(tmp_path):
    write(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/a.py": "from low import b\n",
            "low/b.py": "def f():\n    from low.a import f\n",  # a lazy import closes the cycle a -> b -> a
            "low/c.py": "def g():\n    import high.x\n",  # upward, and only inside a function
            "high/__init__.py": "",
            "high/x.py": "from low import c\n",
            "stray/__init__.py": "",
        },
    )
    layers = [Layer("low", 0, ("low",)), Layer("high", 1, ("high",))]
    graph = import_graph(tmp_path, ("low", "high", "stray"))
    assert graph["low.c"] == {"high.x"} and graph["high.x"] == {"low", "low.c"}
    problems = violations(graph, layers)
    assert "stray belongs to no layer" in problems
    assert "low.c (low) imports high.x (high), which is not below it" in problems
    assert any(p.startswith("import cycle: ") and "low.a" in p and "low.b" in p for p in problems)
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_same_rank_layers_may_not_import_each_other(tmp_path):
    write(tmp_path, {"one/__init__.py": "", "one/m.py": "import two.n\n", "two/__init__.py": "", "two/n.py": ""})
    graph = import_graph(tmp_path, ("one", "two"))
    problems = violations(graph, [Layer("one", 1, ("one",)), Layer("two", 1, ("two",))])
    assert problems == ["one.m (one) imports two.n (two), which is not below it"]
