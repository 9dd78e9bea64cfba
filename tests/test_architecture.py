"""The layout holds: apps import each other only downward, and the engine's concerns are
layered (the contracts live in pyproject.toml, under [tool.importlinter])."""

import itertools
import subprocess
import sys

import grimp

from tests.workers import ROOT

# Interface modules sit on top of every app and may import any of them.
INTERFACES = (
    "accounts.admin",
    "accounts.api",
    "accounts.spend_admin",
    "conversations.admin",
    "conversations.api",
    "conversations.sse",
    "conversations.inbox.views",  # the staff inbox's views (an interface, like the admin)
)


def _unit(module: str) -> str | None:
    """The app-level unit a module belongs to (None: an interface or the project shell)."""
    if module.startswith(INTERFACES):
        return None
    top, _, rest = module.partition(".")
    if top != "chatbot":
        return top
    concern = rest.partition(".")[0]
    if concern == "platform":
        return "chatbot.platform"
    if concern in {"", "settings", "urls", "asgi", "wsgi", "views", "admin", "celery", "apps"}:
        return None  # the Django project itself, above everything
    return "engine"


def _cycles(edges: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs of units that reach each other (there are only a handful of units)."""
    units = sorted({u for edge in edges for u in edge})

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for a, b in edges:
                if a == todo[-1] and b not in seen:
                    seen.add(b)
                    todo.insert(0, b)
            todo.pop()
        return seen

    reach = {u: reaches(u) for u in units}
    return [(a, b) for a, b in itertools.combinations(units, 2) if b in reach[a] and a in reach[b]]


def test_the_app_level_import_graph_has_no_cycle():
    graph = grimp.build_graph("chatbot", "accounts", "conversations")
    edges = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = _unit(importer), _unit(imported)
            if a and b and a != b:
                edges.add((a, b))
    assert ("conversations", "accounts") in edges  # the graph was read at all
    assert _cycles(edges) == [], f"app-level import cycle among {sorted(edges)}"


LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def test_the_import_contracts_are_kept():
    result = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout
