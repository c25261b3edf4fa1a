"""An import-linter contract type for parts of an outside package (tests/test_layers.py runs it).

import-linter sees an outside package as one node (`PySide6`), so its forbidden contract cannot
say "workers may use PySide6.QtCore but not PySide6.QtWidgets". This contract reads the import
lines grimp recorded (imports inside functions included) and refuses the named submodules:

    [[tool.importlinter.contracts]]
    type = "forbidden_submodules"
    source_modules = ["roto_studio.workers"]
    forbidden = ["PySide6.QtWidgets"]

A source module missing from the graph is an error, never a pass.
"""

from __future__ import annotations

import re

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck
from importlinter.domain.helpers import module_expressions_to_modules

_IMPORT = re.compile(r"^\s*import\s+(.+)$")
_FROM = re.compile(r"^\s*from\s+([\w.]+)\s+import\s+\(?\s*(.*)$")


def imported_names(line: str) -> list[str]:
    """Dotted names an import line brings in: `import a.b as c, d` -> [a.b, d];
    `from a import b, c as d` -> [a.b, a.c] (the module itself counts only through its names)."""
    line = line.split("#", 1)[0].strip()
    m = _FROM.match(line)
    if m:
        base, rest = m.group(1), m.group(2).rstrip(")\\ ")
        names = [n.strip().split(" as ")[0].strip() for n in rest.split(",")]
        names = [n for n in names if n and n != "*"]
        return [f"{base}.{n}" for n in names] or [base]
    m = _IMPORT.match(line)
    if m:
        return [n.strip().split(" as ")[0].strip() for n in m.group(1).split(",") if n.strip()]
    return []


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class ForbiddenSubmodulesContract(Contract):
    type_name = "forbidden_submodules"

    source_modules = fields.SetField(subfield=fields.ModuleExpressionField())
    forbidden = fields.ListField(subfield=fields.StringField())
    allowed = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph, verbose: bool) -> ContractCheck:
        sources = set(module_expressions_to_modules(graph, self.source_modules))
        for module in sources:
            if module.name not in graph.modules:
                raise ValueError(f"Module '{module.name}' does not exist.")
        allowed = list(self.allowed or [])
        roots = {f.split(".")[0] for f in self.forbidden}
        names = set()
        for module in sources:
            names.add(module.name)
            names |= graph.find_descendants(module.name)
        violations = []
        for importer in sorted(names):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if imported.split(".")[0] not in roots:
                    continue
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    for name in imported_names(detail["line_contents"]):
                        if _under(name, self.forbidden) and not _under(name, allowed):
                            violations.append((importer, detail["line_number"], detail["line_contents"]))
                            break
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, line, text in check.metadata["violations"]:
            output.print_error(f"{importer}:{line}: {text.strip()}", bold=False)
            output.new_line()
