"""The package's shape: imports run one way (no cycles, function-level imports included), and the
public API is one import away."""

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "fkp"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def runtime_imports(tree: ast.AST):
    """Every import statement that runs (module level or inside functions), not `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if is_type_checking_block(child):
                stack.extend(child.orelse)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            stack.append(child)


def import_graph() -> dict[str, set[str]]:
    """Module -> the fkp modules it imports (a submodule named in `from package import name` counts)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # `from package import submodule` imports the submodule; any other name comes from the package
                submodules = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in files]
                names = [alias.name for alias in node.names if f"{source}.{alias.name}" not in files]
                targets = submodules + ([source] if names else [])
            for target in targets:
                if target in files and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_hidden_cycle():
    graph = {"fkp.a": {"fkp.b"}, "fkp.b": {"fkp.c"}, "fkp.c": {"fkp.a"}, "fkp.d": {"fkp.a"}}
    assert cycles(graph) == [["fkp.a", "fkp.b", "fkp.c"]]
    real = import_graph()
    assert "fkp.demo.streams" in real["fkp.demo.handlers"] and "fkp.demo" not in real["fkp.demo.handlers"]
    tree = ast.parse("def f():\n    from .b import x\nif TYPE_CHECKING:\n    from .c import y\n")
    assert [node.module for node in runtime_imports(tree)] == ["b"]  # function-level counts, type-only does not


def test_no_import_cycles_in_the_package():
    graph = import_graph()
    assert len(graph) > 20 and "fkp.pipeline" in graph["fkp.landmarker"]  # the graph is real
    assert cycles(graph) == []


def test_public_api_is_one_import_and_light():
    """`from fkp import FaceKeypoints` is the API; importing fkp (and the CLI) loads no torch, so that
    `fkp --help` answers at once."""
    code = (
        "import sys, fkp, fkp.cli; assert 'torch' not in sys.modules, 'torch imported'; "
        "from fkp import FaceKeypoints; from fkp.landmarker import FaceKeypoints as Home; "
        "assert FaceKeypoints is Home; "
        "print(sorted(fkp.__all__))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "FaceKeypoints" in result.stdout


# The README's Layout table, top to bottom: a module may import from its own stage and the stages above.
STAGES = [
    [
        "fkp.keypoints",
        "fkp.errors",
        "fkp.options",
        "fkp.shipped",
        "fkp.geometry",
        "fkp.framing",
        "fkp.heatmaps",
        "fkp.runtime",
    ],
    ["fkp.images"],
    ["fkp.detect"],
    ["fkp.data", "fkp.augment"],
    ["fkp.model"],
    ["fkp.pipeline", "fkp.tracking", "fkp.video", "fkp.records", "fkp.landmarker"],
    [
        "fkp.training_args",
        "fkp.run_folder",
        "fkp.train",
        "fkp.distill",
        "fkp.metrics",
        "fkp.offsets",
        "fkp.average",
        "fkp.quantize",
        "fkp.card",
        "fkp.jobs",
    ],
    ["fkp.render", "fkp.demo", "fkp.predict", "fkp.evaluate", "fkp.submit", "fkp.export", "fkp.cli"],
    ["fkp.api", "fkp.photo", "fkp.live", "fkp.transforms", "fkp.blazeface"],  # deprecated re-exports
]


def stage_of(module: str) -> int | None:
    for index, stage in enumerate(STAGES):
        if any(module == name or module.startswith(name + ".") for name in stage):
            return index
    return None


def test_imports_point_up_the_layout_table_and_it_lists_every_module():
    graph = import_graph()
    unplaced = [module for module in graph if module != "fkp" and stage_of(module) is None]
    assert unplaced == [], f"add these to the README's Layout and to STAGES: {unplaced}"
    downward = [
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        if "fkp" not in (source, target) and stage_of(target) > stage_of(source)
    ]
    assert downward == []
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1]
    for stage in STAGES:
        for module in stage:
            path = module.replace(".", "/")
            assert f"`{path}.py`" in layout or f"`{path}/`" in layout, f"{path} is missing from the README's Layout"


def test_old_import_paths_still_work_and_warn():
    code = """
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from fkp.api import FaceKeypoints, has_onnxruntime
    from fkp.photo import load_photo, predict_photo, FaceResult
    from fkp.live import LiveTracker
    from fkp.transforms import Augmentation, warp
    from fkp.blazeface import load_blazeface
    from fkp.detect import HAAR_FRAMING, box_crop, match_face
import fkp.landmarker, fkp.pipeline, fkp.framing
assert FaceKeypoints is fkp.landmarker.FaceKeypoints and predict_photo is fkp.pipeline.predict_photo
modules = sorted({str(w.message).split()[0] for w in caught if issubclass(w.category, DeprecationWarning)})
print(modules)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for old in ("fkp.api", "fkp.photo", "fkp.live", "fkp.transforms", "fkp.blazeface", "fkp.detect.HAAR_FRAMING"):
        assert old in result.stdout, result.stdout
