"""The generic layer of the gateway (realtime/server/) imports nothing of the product.

realtime/server/ is a Socket.IO server on Channels that could be lifted out as a library;
the product (realtime's other modules and the apps) uses it, never the other way round.
Every import statement of every module under realtime/server/ is walked, including those in
function bodies and behind `TYPE_CHECKING`, with relative imports resolved.
"""

from __future__ import annotations

from pathlib import Path

from tests.test_import_graph import imported_names

ROOT = Path(__file__).resolve().parent.parent.parent
SERVER = ROOT / "realtime" / "server"
GENERIC_PACKAGE = "realtime.server"
#: Top-level packages of the product: none of them may be imported by the generic layer
#: (`realtime` itself only for its `server` package).
PRODUCT_PACKAGES = ("realtime", "machines", "telemetry", "notifications", "sales", "vendhub",
                    "operations", "devices")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_product(name: str) -> bool:
    if name == GENERIC_PACKAGE or name.startswith(GENERIC_PACKAGE + "."):
        return False
    return name.split(".")[0] in PRODUCT_PACKAGES


def product_imports_of_the_generic_layer() -> list[str]:
    found = []
    for path in sorted(SERVER.rglob("*.py")):
        module = module_name(path)
        for name in imported_names(path.read_text(), module,
                                     is_package=path.name == "__init__.py"):
            if is_product(name):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_the_generic_layer_imports_nothing_of_the_product():
    assert list(SERVER.rglob("*.py")), "realtime/server/ holds the generic layer"
    assert product_imports_of_the_generic_layer() == []


def test_the_walk_sees_deferred_type_checking_and_relative_imports():
    source = """
from typing import TYPE_CHECKING
from . import metrics
from .. import rooms
if TYPE_CHECKING:
    from machines.models import Machine
def later():
    import sales.ingest
    from realtime import events
"""
    names = imported_names(source, "realtime.server.hub")
    assert [name for name in names if is_product(name)] == [
        "realtime.rooms", "machines.models.Machine", "sales.ingest", "realtime.events"]
    assert not is_product("realtime.server.metrics")


def test_a_package_init_resolves_relative_imports_from_itself():
    names = imported_names("from .engineio import Packet\nfrom ... import events\n",
                             "realtime.server.protocol", is_package=True)
    assert names == ["realtime.server.protocol.engineio.Packet", "realtime.events"]
    assert is_product("realtime.events") and is_product("realtime")
