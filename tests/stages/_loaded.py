"""Print, as JSON, every jaxconcepts source file a stage can run (run in a fresh interpreter).

``python -m tests.stages._loaded jaxconcepts.stages.figures`` imports the CLI and the stage
module, then keeps importing every jaxconcepts module named by an ``import`` statement anywhere
in a loaded module's source (inside functions too: stages import lazily) and resolving every name
a ``from jaxconcepts... import name`` asks for (which runs lazy ``__getattr__`` loaders), until
nothing new loads. The result over-approximates what ``main`` runs: a module a stage could call
is listed even when this run's params would not reach it.

With several modules (``python -m tests.stages._loaded MOD1 MOD2 ...``) it prints {module: files}:
the heavy third-party packages are imported and every jaxconcepts source file is parsed once,
then each module is traced in its own forked child, which starts with no jaxconcepts module
loaded, as a fresh interpreter does.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


#: {source path: its import statements as (level, module, names, is ``from``)}: parsed once per
#: file (the forking parent parses every jaxconcepts file before its children start)
_IMPORTS: dict[str, list[tuple[int, str | None, list[str], bool]]] = {}


def _imports(path: str) -> list[tuple[int, str | None, list[str], bool]]:
    path = os.path.realpath(path)
    if path not in _IMPORTS:
        tree = ast.parse(Path(path).read_text(), path)
        _IMPORTS[path] = [
            (getattr(node, "level", 0), getattr(node, "module", None),
             [a.name for a in node.names], isinstance(node, ast.ImportFrom))
            for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    return _IMPORTS[path]


def _targets(module) -> list[tuple[str, str | None]]:
    """(module name, imported name or None) of every jaxconcepts import in a module's source."""
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        return []
    package = module.__package__ or ""
    out = []
    for level, mod, names, is_from in _imports(path):
        if not is_from:
            out += [(a, None) for a in names]
            continue
        if level:
            base = package.rsplit(".", level - 1)[0] if level > 1 else package
            name = f"{base}.{mod}" if mod else base
        else:
            name = mod or ""
        out += [(name, a) for a in names]
    return [(m, n) for m, n in out if m == "jaxconcepts" or m.startswith("jaxconcepts.")]


def loaded_files(stage_module: str) -> list[str]:
    importlib.import_module("jaxconcepts.cli")
    importlib.import_module(stage_module)
    seen: set[str] = set()
    while True:
        new = [m for m in list(sys.modules)
               if (m == "jaxconcepts" or m.startswith("jaxconcepts.")) and m not in seen]
        if not new:
            break
        for m in new:
            seen.add(m)
            for name, attr in _targets(sys.modules[m]):
                mod = importlib.import_module(name)
                if attr is None or attr == "*":
                    continue
                try:
                    getattr(mod, attr)  # runs lazy loaders (PEP 562 __getattr__)
                except AttributeError:
                    importlib.import_module(f"{name}.{attr}")  # a submodule
    files = set()
    for m in seen:
        f = getattr(sys.modules[m], "__file__", None)
        if f:
            files.add(Path(f).resolve().relative_to(ROOT).as_posix())
    return sorted(files)


#: Third-party packages the stages import, loaded once before forking (they load no jaxconcepts
#: module, so what each child loads of jaxconcepts is what a fresh interpreter loads)
PRELOAD = ("numpy", "scipy", "sklearn", "yaml", "PIL", "matplotlib", "matplotlib.figure",
           "safetensors", "jax", "jax.numpy", "optax", "equinox", "torch", "torchvision", "timm",
           "open_clip", "dvc")


def _ours() -> list[str]:
    return [m for m in sys.modules if m == "jaxconcepts" or m.startswith("jaxconcepts.")]


def loaded_files_forked(modules: list[str]) -> dict[str, list[str]]:
    """:func:`loaded_files` of each module, each in a child forked from this interpreter after
    importing :data:`PRELOAD` (no jaxconcepts module loaded yet): one interpreter start for all
    the stages instead of one each."""
    import importlib.util

    for name in PRELOAD:
        if importlib.util.find_spec(name.split(".")[0]) is not None:
            importlib.import_module(name)
    assert not _ours(), f"preloading loaded {_ours()}"
    for path in sorted((ROOT / "jaxconcepts").rglob("*.py")):  # parsed once, not once a child
        _imports(str(path))
    out = {}
    for module in modules:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: one stage, then exit without running the parent's cleanup
            os.close(r)
            code = 1
            try:
                with os.fdopen(w, "w") as f:
                    f.write(json.dumps(loaded_files(module)))
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        os.close(w)
        with os.fdopen(r) as f:
            text = f.read()
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"tracing {module} failed (status {status})")
        out[module] = json.loads(text)
    return out


if __name__ == "__main__":
    if len(sys.argv) == 2:  # one module: this fresh interpreter
        print(json.dumps(loaded_files(sys.argv[1])))
    else:
        print(json.dumps(loaded_files_forked(sys.argv[1:])))
