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
