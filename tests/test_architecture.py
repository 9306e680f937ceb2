"""The package's shape: no import cycle among its modules (imports inside functions count), and
no module imports another module's private names."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "denoise_tf"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, modules) -> list[tuple[str, list[str]]]:
    """``(imported module, imported names)`` of every import statement in ``path``, at any depth."""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base[: len(base) - (node.level - 1)]
                prefix = ".".join(parts + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [alias.name for alias in node.names]
            out.append((prefix, names))
            out += [(f"{prefix}.{name}", []) for name in names if f"{prefix}.{name}" in modules]
    return out


def _owner(name: str, modules) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    edges = {m: set() for m in modules}
    for module, path in modules.items():
        for target, _ in _imports(module, path, modules):
            owner = _owner(target, modules)
            # the package itself and a package loading its own children (a registry) are no edge
            if owner and owner != module and owner != "denoise_tf" and not owner.startswith(module + "."):
                edges[module].add(owner)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_modules():
    edges = _graph()
    assert len(edges) > 20 and "denoise_tf.zoo" in edges["denoise_tf.evaluate"]
    assert _cycles(edges) == []


def test_no_module_imports_private_names_of_another():
    modules = _modules()
    offences = []
    for module, path in modules.items():
        for target, names in _imports(module, path, modules):
            owner = _owner(target, modules)
            if not owner or owner == module or not owner.startswith("denoise_tf"):
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                offences.append(f"{module} imports {private} from {owner}")
    assert offences == []


def test_no_module_reads_private_attributes_of_another():
    """``pipeline._name`` from outside ``pipeline`` (by the names modules import each other as)."""
    import re

    modules = _modules()
    short = {m.rpartition(".")[2] for m in modules if m != "denoise_tf"}
    pattern = re.compile(r"\b(" + "|".join(sorted(short)) + r")\._[a-z]\w*")
    offences = []
    for module, path in modules.items():
        own = module.rpartition(".")[2]
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in pattern.finditer(line.split("#")[0]):
                if match.group(1) != own:
                    offences.append(f"{path.name}:{number}: {match.group(0)}")
    assert offences == []
