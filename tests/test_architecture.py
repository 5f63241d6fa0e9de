"""The package's layers point one way: no import cycles between vaelab's modules, information
theory (vaelab.info) and the statistics helpers below everything model-related, and no private
name (``_x``) imported from another module."""

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_imports() -> dict[str, set[str]]:
    mods: dict[str, set[str]] = {}
    private: list[str] = []
    for p in SRC.rglob("*.py"):
        name = ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        deps = set()
        for node in ast.parse(p.read_text()).body:  # module level: what importing it runs
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("vaelab"):
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
                private += [f"{name}: {node.module}.{a.name}" for a in node.names
                            if a.name.startswith("_") and a.name != "__version__"]
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("vaelab"))
        mods[name] = deps
    for k in mods:
        mods[k] = {d for d in mods[k] if d in mods and d != k}
    module_imports.private = private
    return mods


def cycles(mods: dict[str, set[str]]) -> list[list[str]]:
    sys.setrecursionlimit(10_000)
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in mods[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in mods:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert cycles(module_imports()) == []


def test_lower_layers_import_nothing_above_them():
    mods = module_imports()
    above = ("vaelab.eval", "vaelab.models", "vaelab.training", "vaelab.estimators",
             "vaelab.cli", "vaelab.report")
    for name, deps in mods.items():
        if name.startswith(("vaelab.info", "vaelab.stats", "vaelab.distributions")):
            assert not [d for d in deps if d.startswith(above)], (name, deps)


def test_no_private_name_crosses_a_module():
    module_imports()
    assert module_imports.private == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
