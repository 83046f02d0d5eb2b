"""The package's shape, checked on its real import graph (grimp): no import cycle between scanner modules,
the subpackages stacked in layers (a layer never imports one above it), and no prefix-grouped modules."""
from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

from tests.conftest import ROOT

# Highest first. A layer may import any layer below it; the packages inside one layer are independent.
LAYERS = (
    grimp.Layer("__main__", "demo"),  # entry points
    grimp.Layer("cli"),  # the command line
    grimp.Layer("crawl", "api"),  # the surfaces that scan on a schedule or on request
    grimp.Layer("review"),  # queue, users, sessions, retention, demo data
    grimp.Layer("pipeline"),  # Scanner, verdict, disclosure
    grimp.Layer("registry"),  # authorizations, photos, name matching
    grimp.Layer("text", "image"),  # the two analysis pipelines
    grimp.Layer("core"),  # models, config, store, audit, crypto
)


def build(package: str) -> grimp.ImportGraph:
    # imports under `if TYPE_CHECKING:` never run; no cache folder written into the checkout
    return grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """One shortest cycle through each direct import that is part of one (each cycle reported once)."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back and (key := frozenset(back)) not in seen:
                seen.add(key)
                found.append([importer, *back])
    return found


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return build("scanner")


def test_no_import_cycle_between_scanner_modules(graph):
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_subpackages_only_import_the_layers_below_them(graph):
    illegal = graph.find_illegal_dependencies_for_layers(layers=LAYERS, containers={"scanner"})
    problems = [f"{d.importer} -> {d.imported}: " + "; ".join(
        " -> ".join([",".join(sorted(r.heads)), *r.middle, ",".join(sorted(r.tails))]) for r in d.routes)
        for d in sorted(illegal, key=lambda d: (d.importer, d.imported))]
    assert not illegal, "imports against the layers:\n" + "\n".join(problems)


def test_every_subpackage_has_a_layer_and_no_module_is_grouped_by_a_name_prefix(graph):
    children = {m.rsplit(".", 1)[1] for m in graph.find_children("scanner")}
    layered = {tail for layer in LAYERS for tail in layer.module_tails}
    assert children == layered, f"not in LAYERS: {sorted(children - layered)}; gone: {sorted(layered - children)}"
    top = sorted(p.name for p in (ROOT / "scanner").glob("_*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert not top, f"prefix-grouped modules left at the top of scanner/: {top}"


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The check above is not vacuous: a package whose modules import each other (inside a function too) fails it."""
    pkg = tmp_path / "cyclic_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def later():\n    from .c import x\n")
    (pkg / "c.py").write_text("from .a import b as x\n")
    (pkg / "d.py").write_text("from . import a\n")  # imports the cycle, is not part of it
    monkeypatch.syspath_prepend(str(tmp_path))
    found = cycles(build("cyclic_pkg"))
    sys.modules.pop("cyclic_pkg", None)
    assert [sorted(c[:-1]) for c in found] == [["cyclic_pkg.a", "cyclic_pkg.b", "cyclic_pkg.c"]]


def test_the_public_surface_is_the_real_objects_and_import_scanner_stays_light():
    import importlib

    import scanner

    for name in scanner.__all__:
        value = getattr(scanner, name)
        assert getattr(importlib.import_module(value.__module__), name) is value, name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        scanner.Nope  # noqa: B018
    heavy = ("spacy", "presidio_analyzer", "face_recognition", "sqlalchemy", "fastapi", "streamlit", "numpy")
    probe = f"import sys, scanner; print([m for m in {heavy!r} if m in sys.modules])"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", (r.stdout, r.stderr)
