"""The import layering of docs/ARCHITECTURE.md, checked on the source (every import statement,
function-level ones included).

- torch, torchvision and timm are imported only under ``jaxconcepts/features/`` (the store,
  ``jaxconcepts/store/``, reads and writes activations without them);
- each folder imports only the folders below it (``ALLOWED``): nothing imports upward;
- a stage imports no other stage (only ``stages/_common.py``).

``KNOWN`` lists today's violations that other branches are removing; an entry that no longer
occurs fails the test too, so the list can only shrink to empty.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "jaxconcepts"
TORCH = ("torch", "torchvision", "timm")
# shared modules at the root (``io``, ``params``: the public faces of ``_io``, ``_params``;
# ``mesh``: the device mesh; ``heads``: the one head type, which the store, importance,
# evaluation, metrics and the runners share; ``_lazy``: the PEP 562 hook of the lazy packages)
BASE = {"_io", "io", "mesh", "heads", "_params", "params", "_schema", "_typing", "_checks",
        "_numerics", "_validate", "_parts", "_safetensors", "_malloc", "_lazy"}

# folder -> the jaxconcepts folders it may import (besides itself and BASE)
ALLOWED: dict[str, set[str]] = {
    "kernels": set(),
    "store": set(),  # the activation store, its rows view, the crop store, the label names
    "features": {"store"},  # extraction and crops write stores
    "datasets": set(),
    "concepts": {"kernels"},
    "importance": {"kernels", "concepts", "store"},
    "streaming": {"kernels", "concepts", "store"},  # the rows view
    "evaluation": {"kernels", "concepts", "importance", "features", "store", "datasets",
                   "streaming", "sae"},  # SAEs in the suites and the image grounds (sae imports
    # only streaming); features: torch's h with its gradient (non-linear heads) and CLIP naming
    "viz": {"kernels", "concepts", "importance", "store"},  # store: the ImageNet class names
    # the Markdown pages: data in (dicts, rows, atlases read by attribute), text out; it imports
    # no other folder (nor JAX), and nothing below the stages imports it
    "report": set(),
    "explorer": {"viz"},  # the page's numbers are arrays; the model view of an image is viz's
    # the device mesh and the tensor writer of the streamed core; concepts: CRAFT's NMF in
    # memory on the synthetic ground (fit_craft: sae/_classwise.py says why not streamed) —
    # concepts imports only kernels: no cycle
    "sae": {"streaming", "concepts"},
    # the public metrics on arrays: a facade over the suites' own functions (one convention)
    "metrics": {"kernels", "importance", "evaluation", "sae"},
    # the store-level runners of the stages: everything on arrays below them, and the store
    "runners": {"kernels", "concepts", "importance", "features", "store", "datasets",
                "streaming", "evaluation", "sae"},
    "stages": {"<root>", "runners", "kernels", "concepts", "importance", "features", "store",
               "datasets", "streaming", "evaluation", "viz", "explorer", "sae", "report"},
    "cli": {"<root>", "stages"},
    "<root>": {"kernels", "concepts", "importance", "store", "datasets", "evaluation",
               "viz"},  # the package root's lazy re-exports
}
for _b in BASE:
    ALLOWED[_b] = set()

KNOWN: set[tuple[str, str]] = set()  # no known violation left


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _folder(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or not ((PKG / parts[1]).is_dir() or (PKG / f"{parts[1]}.py").is_file()):
        return "<root>"  # the package itself, or a name it exports (``__version__``)
    return parts[1]


def imports(path: Path) -> list[str]:
    """Absolute module names of every import statement in a file."""
    mod = _module(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                name = f"{base}.{node.module}" if node.module else base
                out += [name] + [f"{name}.{a.name}" for a in node.names]
            else:
                out += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return out


def violations() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(PKG.rglob("*.py")):
        rel, src = path.relative_to(ROOT).as_posix(), _folder(_module(path))
        for name in imports(path):
            top = name.split(".")[0]
            if top in TORCH and src != "features":
                found.add((rel, top))
            if top != "jaxconcepts":
                continue
            dst = _folder(name)
            if dst in BASE and src != dst and not (src in BASE and dst == "<root>"):
                continue
            if dst == src:
                if src == "stages":
                    leaf = name.split(".")[2] if len(name.split(".")) > 2 else ""
                    own = path.stem
                    if leaf and not leaf.startswith("_") and leaf != own:
                        found.add((rel, ".".join(name.split(".")[:3])))
                continue
            if dst not in ALLOWED.get(src, set()):
                found.add((rel, ".".join(name.split(".")[:2])))
    return found


def test_layering_holds_except_known():
    found = violations()
    new = sorted(found - KNOWN)
    assert not new, f"imports that break the layering (docs/ARCHITECTURE.md): {new}"


def test_known_violations_still_exist():
    gone = sorted(KNOWN - violations())
    assert not gone, f"fixed: delete {gone} from KNOWN in tests/test_layering.py"


def test_checker_catches_upward_and_stage_imports(tmp_path):
    fake = tmp_path / "jaxconcepts"
    (fake / "kernels").mkdir(parents=True)
    (fake / "stages").mkdir()
    (fake / "viz").mkdir()
    (fake / "kernels" / "_bad.py").write_text("def f():\n    from jaxconcepts.viz import x\n")
    (fake / "stages" / "a.py").write_text("from jaxconcepts.stages import b\nimport torch\n")
    global ROOT, PKG
    old = ROOT, PKG
    ROOT, PKG = tmp_path, fake
    try:
        found = violations()
    finally:
        ROOT, PKG = old
    assert found == {("jaxconcepts/kernels/_bad.py", "jaxconcepts.viz"),
                     ("jaxconcepts/stages/a.py", "jaxconcepts.stages.b"),
                     ("jaxconcepts/stages/a.py", "torch")}
