"""The packages' layering, read from the source: the engine never imports the bridge, and no two
modules import each other (directly or round a longer loop), at the top or inside a function."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_imports() -> dict[str, set[str]]:
    """Module -> the engine and bridge modules it imports (a package's name for its __init__)."""
    files = {}
    for package in ("engine", "bridge"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[:len(here) - node.level + 1] + [node.module or ""]) if node.level else node.module
                base = (base or "").strip(".")
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def test_the_engine_imports_nothing_from_the_bridge():
    graph = module_imports()
    assert not {(m, t) for m, ts in graph.items() if m.startswith("engine") for t in ts if t.startswith("bridge")}


def test_no_modules_import_each_other():
    graph = module_imports()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module == goal:
                return True
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        return False

    assert [m for m in graph if reaches(m, m)] == []


def test_no_bridge_module_imports_torch_even_inside_a_function():
    for path in (ROOT / "bridge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "torch" or n.startswith("torch.") for n in names), path


# lower layers never reach up: (module prefix, what it may not import)
BELOW = {
    "engine.diffusion": ("engine.tasks", "engine.train", "engine.pipeline", "engine.service"),
    "engine.nn": ("engine.diffusion", "engine.tasks", "engine.train", "engine.pipeline", "engine.resynthesis"),
    "engine.guide": ("engine.tasks", "engine.train", "engine.pipeline"),
    "engine.metrics": ("engine.tasks", "engine.train", "engine.pipeline", "engine.guide"),
    "engine.resynthesis": ("engine.tasks", "engine.train", "engine.pipeline", "engine.diffusion", "engine.service",
                           "engine.model"),
    "engine.kind": ("engine.model", "engine.tasks", "engine.pipeline"),
    "engine.tasks": ("engine.train", "engine.service"),
    "engine.settings": ("engine.diffusion", "engine.tasks", "engine.pipeline"),
}


def test_no_arrow_points_up_the_layers():
    graph = module_imports()
    upward = {(m, t) for m, targets in graph.items() for t in targets for low, above in BELOW.items()
              if (m == low or m.startswith(low + ".")) and any(t == a or t.startswith(a + ".") for a in above)}
    assert upward == set()


def test_the_pipeline_and_the_tasks_ask_a_model_only_what_every_model_kind_offers():
    """`pipeline.model.X` in a task and `self.model.X` in the pipeline: X is in `engine.kind.ModelKind`,
    so a second model kind needs no change to either."""
    from engine.kind import ModelKind

    offered = {name for name in dir(ModelKind) if not name.startswith("_")} | set(ModelKind.__annotations__)
    asked = set()
    for path in [ROOT / "engine" / "pipeline.py", *(ROOT / "engine" / "tasks").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "model" and isinstance(node.value.value, ast.Name) \
                    and node.value.value.id in ("pipeline", "self"):
                asked.add((path.name, node.attr))
    assert {name for _, name in asked} >= {"geometry", "encode", "denoiser", "resynthesize"}  # the check sees them
    assert {(file, name) for file, name in asked if name not in offered} == set()
