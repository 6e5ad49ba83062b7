"""The package's layering, read from its source (every import, at module level or inside a function):

- no import circle between its modules (imports under ``if TYPE_CHECKING:`` are annotations, not imports);
- ``nn/`` (the network from scratch) imports NumPy, gymnasium.spaces, the standard library and itself, nothing else;
- the learner (ppo, loss, rollout, optimizer, checks, schedules, policy, policy_api, nn/) imports nothing from the
  wings ``parity/`` and ``zoo/``, and the numerics (loss, rollout, optimizer, policy, nn/) nothing from ``files/``;
- in the package only ``__main__`` imports ``parity/`` (besides ``parity/`` itself);
- every module says its one job in a docstring and stays under 350 lines.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sb3_scratch_ppo"
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str) -> set[str]:
    """Every module ``name`` imports, by absolute name (``from pkg import sub`` names pkg.sub when it is a module)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for n in ast.walk(block)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:  # annotations only: never imported at run time
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


def internal(name: str) -> set[str]:
    return {m for m in imports(name) if m in MODULES and m != name}


def in_wing(module: str, wing: str) -> bool:
    return module == f"sb3_scratch_ppo.{wing}" or module.startswith(f"sb3_scratch_ppo.{wing}.")


def test_the_graph_is_read_from_the_source():
    """The reader sees what is there: ppo imports the policy, the loss and the files wing; nn/ reaches NumPy."""
    assert {"sb3_scratch_ppo.policy", "sb3_scratch_ppo.loss", "sb3_scratch_ppo.files.load"} <= internal("sb3_scratch_ppo.ppo")
    assert "numpy" in imports("sb3_scratch_ppo.nn.layers")
    assert "sb3_scratch_ppo.parity.cli" in internal("sb3_scratch_ppo.__main__")
    assert len(MODULES) >= 30


def test_no_import_circle():
    graph = {name: internal(name) for name in MODULES}
    # A package's __init__ importing its own modules, which import names back from it, is not a circle in the design
    # (Python resolves it, and the layers do not cross): follow edges into a package only through its modules.
    for name in graph:
        graph[name] = {m for m in graph[name] if not (MODULES[m].name == "__init__.py" and name.startswith(m + "."))}
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join([*path[path.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_nn_imports_numpy_gymnasium_spaces_and_itself_only():
    stdlib = set(sys.stdlib_module_names)
    for name in (m for m in MODULES if in_wing(m, "nn")):
        for imported in imports(name):
            top = imported.split(".")[0]
            ok = (
                top in stdlib
                or top == "numpy"
                or imported in ("gymnasium", "gymnasium.spaces")
                or in_wing(imported, "nn")
                or imported == "__future__"
            )
            assert ok, f"{name} imports {imported}"


LEARNER = ["ppo", "loss", "rollout", "optimizer", "checks", "schedules", "policy", "policy_api"]
NUMERICS = ["loss", "rollout", "optimizer", "policy"]


def test_the_learner_does_not_reach_into_the_wings():
    learner = [f"sb3_scratch_ppo.{m}" for m in LEARNER] + [m for m in MODULES if in_wing(m, "nn")]
    numerics = [f"sb3_scratch_ppo.{m}" for m in NUMERICS] + [m for m in MODULES if in_wing(m, "nn")]
    for name in learner:
        for imported in internal(name):
            assert not in_wing(imported, "parity") and not in_wing(imported, "zoo"), f"{name} imports {imported}"
    for name in numerics:
        for imported in internal(name):
            assert not in_wing(imported, "files"), f"{name} imports {imported}"


def test_only_main_imports_the_parity_wing():
    for name in MODULES:
        if name in ("sb3_scratch_ppo.__main__",) or in_wing(name, "parity"):
            continue
        assert not any(in_wing(m, "parity") for m in internal(name)), f"{name} imports the parity wing"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_states_its_job_and_stays_short(name):
    text = MODULES[name].read_text()
    assert ast.get_docstring(ast.parse(text)), f"{name} has no docstring saying its job"
    assert len(text.splitlines()) <= MAX_LINES, f"{name}: {len(text.splitlines())} lines"
