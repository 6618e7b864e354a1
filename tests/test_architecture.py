"""Imports flow one way: rooms knows nothing of the project; media knows only aiortc;
the test kit serves tests and bench and imports neither. Backends and the relay are
built in one place, server/composition.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = {"server", "signaling", "rooms", "media", "certs", "web", "bench", "tests",
           "testkit"}
# The test kit serves tests/ and bench/ alike, so it imports neither; the product imports
# none of the three.
FORBIDDEN = {
    "rooms": PROJECT - {"rooms"},
    "media": PROJECT - {"media"},
    "certs": PROJECT - {"certs"},
    "signaling": {"server", "tests", "bench", "testkit"},
    "server": {"tests", "bench", "testkit"},
    "testkit": {"tests", "bench"},
    "bench": {"tests"},
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    offenders = {
        str(f.relative_to(ROOT)): sorted(imported_roots(f) & FORBIDDEN[package]) for f in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_media_relay_never_uses_media_relay_class() -> None:
    """aiortc's MediaRelay decodes and re-encodes per subscriber: never in the media path."""
    for f in (ROOT / "media").rglob("*.py"):
        assert "MediaRelay" not in f.read_text(), f


# What only the composition root builds: the store backends, the Redis bus and
# socket.io manager, the relay. Everything else receives them (or a port) from there.
BUILT_IN_COMPOSITION = {
    "rooms.stores.redis": {"RedisStore"},
    "rooms.stores.sqlite": {"SqliteStore"},
    "server.bus": {"RedisBus", "ResilientRedisManager"},
    "media.relay": {"Relay"},
}
COMPOSITION = "server/composition.py"


def built_here(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module in BUILT_IN_COMPOSITION:
            found.update(alias.name for alias in node.names
                         if alias.name in BUILT_IN_COMPOSITION[node.module])
    return found


def test_backends_and_relay_are_built_only_in_the_composition_root() -> None:
    builders = {str(f.relative_to(ROOT)): built_here(f)
                for package in ("server", "signaling") for f in (ROOT / package).rglob("*.py")}
    assert {k: v for k, v in builders.items() if v} == {
        COMPOSITION: set().union(*BUILT_IN_COMPOSITION.values())}


# -- media: private aiortc/aioice names go through media.aiortc_shim -----------------
# The shim lists every private name the relay touches (the startup self-test checks
# each). Only the shim, the self-test and the per-packet ingress/egress/SRTP paths
# (which read their few names inline, for speed) may touch one.
MEDIA_SHIM_MODULES = {"aiortc_shim.py", "selftest.py", "ingress.py", "egress.py", "srtp.py"}
MEDIA_PURE_MODULES = ("munger", "nack", "keyframes", "rtcp", "speaker", "rtp", "health", "sdp",
                      "estimate", "vp8", "layers", "adapt")
MEDIA_PURE_TESTS = ("test_munger", "test_nack", "test_keyframes", "test_rtcp_bytes",
                    "test_speaker", "test_rtp", "test_health", "test_estimate", "test_sdp",
                    "test_vp8", "test_simulcast_sdp", "test_layers", "test_adapt")
LIBRARIES = ("aiortc", "aioice", "pylibsrtp")


def _mangled(cls: str, name: str) -> str:
    if name.startswith("__") and not name.endswith("__"):
        return f"_{cls.lstrip('_')}{name}"
    return name


def library_private_names() -> set[str]:
    """Private attribute and method names the libraries define on their classes
    (name-mangled as Python stores them), plus asyncio's UDP transport's."""
    import asyncio.selector_events
    import importlib.util

    files: list[Path] = [Path(asyncio.selector_events.__file__)]
    for lib in LIBRARIES:
        spec = importlib.util.find_spec(lib)
        assert spec is not None, lib
        assert spec.origin is not None, lib
        files += Path(spec.origin).parent.rglob("*.py")
    names: set[str] = set()
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if not isinstance(node, ast.ClassDef):
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = sub.name
                elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) \
                        and sub.value.id == "self":
                    name = sub.attr
                else:
                    continue
                if name.startswith("_") and not name.endswith("__"):
                    names.add(_mangled(node.name, name))
    return names


def media_private_uses(private: set[str]) -> dict[str, set[str]]:
    """Per media module: the library private names it reads or writes on an object
    other than ``self`` (the relay's own classes keep their own state)."""
    uses: dict[str, set[str]] = {}
    for f in sorted((ROOT / "media").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Attribute) and node.attr in private and not (
                    isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                uses.setdefault(f.name, set()).add(node.attr)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("getattr", "hasattr", "setattr") \
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                    and node.args[1].value in private:
                uses.setdefault(f.name, set()).add(str(node.args[1].value))
    return uses


def test_media_private_library_names_only_in_the_shim() -> None:
    uses = media_private_uses(library_private_names())
    outside = {f: sorted(n) for f, n in uses.items() if f not in MEDIA_SHIM_MODULES}
    assert outside == {}, "use media.aiortc_shim for these"


def test_media_shim_lists_every_private_name_it_touches() -> None:
    from media.aiortc_shim import INTERNALS

    listed = {i.name for i in INTERNALS}
    uses = media_private_uses(library_private_names())
    unlisted = {f: sorted(n - listed) for f, n in uses.items() if n - listed}
    assert unlisted == {}, "add these to aiortc_shim.INTERNALS (the self-test checks them)"


def test_media_pure_mechanisms_import_without_aiortc() -> None:
    import subprocess
    import sys

    modules = ", ".join(f"media.{m}" for m in MEDIA_PURE_MODULES)
    code = (f"import sys, {modules}; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(LIBRARIES)!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"
    for name in MEDIA_PURE_TESTS:
        roots = imported_roots(ROOT / "tests" / "media" / f"{name}.py")
        assert not roots & set(LIBRARIES), name
