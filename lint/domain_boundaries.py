"""import-linter contract for BrokerCare's domain boundaries.

import-linter's built-in contracts cannot say "``X.models`` only from inside ``X``" for every
``X`` at once (a wildcard cannot bind the importer's domain to the imported one), and listing the
domains by hand would let a new domain in unchecked. This contract discovers the domains from the
import graph (every sub-package of the root package), so a new one gets the rules by default:

1. **Tables are private.** ``<domain>.models`` is imported only from inside ``<domain>``.
2. **Public rooms only.** From outside a domain, only its public modules are imported
   (``public_modules``: e.g. ``service``, ``schemas``, ``events``, and the hub's ports).
3. **Layers.** ``foundation`` packages (``core``) import no domain; nothing below the
   ``clients`` (``web``, ``demo``, the app and the CLI) imports a client.
4. **No cycles between domains.** Counted over direct imports between different domains, leaving
   out the rooms that sit on top of a domain (``views``, ``cli``): a domain's HTTP routes may
   depend on the security policy that itself records to the ledger without closing a loop.

Type-checking-only imports are excluded by the session option ``exclude_type_checking_imports``.
"""

from __future__ import annotations

from collections import defaultdict

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


class DomainBoundariesContract(Contract):
    type_name = "domain_boundaries"

    root = fields.StringField()
    foundation = fields.ListField(subfield=fields.StringField())
    clients = fields.ListField(subfield=fields.StringField())
    public_modules = fields.ListField(subfield=fields.StringField())
    top_rooms = fields.ListField(subfield=fields.StringField())
    ignore_packages = fields.ListField(subfield=fields.StringField(), required=False)

    # -- discovery -------------------------------------------------------------------------
    def _top(self, module: str) -> str | None:
        """The first component under the root package (``brokercare.x.y`` -> ``x``)."""
        parts = module.split(".")
        if parts[0] != self.root or len(parts) < 2:
            return None
        return parts[1]

    def _room(self, module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if len(parts) > 2 else None

    def _imports(self, graph: ImportGraph):
        ignored = set(self.ignore_packages or [])
        for importer in sorted(graph.modules):
            src = self._top(importer)
            if src is None or src in ignored:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                dst = self._top(imported)
                if dst is None or dst == src or dst in ignored:
                    continue
                yield importer, imported, src, dst

    # -- the rules -------------------------------------------------------------------------
    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        foundation = set(self.foundation)
        clients = set(self.clients)
        public = set(self.public_modules)
        top_rooms = set(self.top_rooms)
        problems: list[tuple[str, str, str, str]] = []
        edges: dict[tuple[str, str], list[str]] = defaultdict(list)

        for importer, imported, src, dst in self._imports(graph):
            lines = ",".join(
                str(d["line_number"])
                for d in graph.get_import_details(importer=importer, imported=imported)
            )
            where = f"{importer}:{lines}" if lines else importer
            room = self._room(imported)
            if src in foundation:
                problems.append(("layers", where, imported, f"{src} is the foundation"))
                continue
            if dst in clients and src not in clients:
                problems.append(("layers", where, imported, f"{dst} is a client of the domains"))
                continue
            if dst in foundation or dst in clients:
                continue
            if room == "models":
                problems.append(("tables", where, imported, f"{dst}'s tables are private"))
            elif room is not None and room not in public:
                problems.append(("public", where, imported, f"not a public module of {dst}"))
            if src not in clients and self._room(importer) not in top_rooms:
                edges[(src, dst)].append(where)

        cycles = _cycles(edges)
        for cycle in cycles:
            first = edges[(cycle[0], cycle[1])][0]
            problems.append(("cycle", first, " -> ".join(cycle + [cycle[0]]), "domains in a loop"))
        output.verbose_print(verbose, f"{len(problems)} boundary problems")
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for rule, where, imported, why in check.metadata["problems"]:
            output.print_error(f"{rule}: {where} -> {imported} ({why})", bold=False)
        output.new_line()


def _cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected group of domains (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_one_cycle(group, graph) for group in groups]


def _one_cycle(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the group's first member (breadth-first)."""
    start = group[0]
    members = set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    return paths[node]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return group
