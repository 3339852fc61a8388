"""Results, targets and the tables printed for them (Markdown, pasted as is into BENCHMARKS.md)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Target:
    name: str  # what is compared, e.g. "requests per 1,000 PRs (ours)"
    value: float | None  # None: not measured (see ``skipped``)
    op: str  # "<=" or ">="
    threshold: float
    unit: str = ""
    skipped: str = ""  # why it was not measured

    @property
    def status(self) -> str:
        if self.value is None:
            return "SKIP" if self.skipped else "MISS"
        ok = self.value <= self.threshold if self.op == "<=" else self.value >= self.threshold
        return "PASS" if ok else "MISS"

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "value": self.value,
            "op": self.op,
            "threshold": self.threshold,
            "unit": self.unit,
            "status": self.status,
            "skipped": self.skipped,
        }


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"title": self.title, "headers": self.headers, "rows": self.rows}


@dataclass
class ScenarioResult:
    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0
    load: tuple = ()  # the machine's 1-minute load average before and after the scenario

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "tables": [t.as_json() for t in self.tables],
            "targets": [t.as_json() for t in self.targets],
            "notes": self.notes,
            "figures": self.figures,
            "error": self.error,
            "seconds": round(self.seconds, 1),
            "load": list(self.load),
        }


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cell(value) -> str:
    """Numbers as plain numbers (no thousands separators: every figure parses as a float)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == 0:
            return "0"
        magnitude = abs(value)
        digits = 0 if magnitude >= 1000 else 1 if magnitude >= 100 else 2 if magnitude >= 1 else 3
        return f"{value:.{digits}f}"
    return str(value)


def render_table(table: Table) -> str:
    cells = [table.headers] + [[cell(v) for v in row] for row in table.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.headers))]
    numeric = [
        all(_is_number(row[i]) or row[i] == "-" for row in cells[1:]) and len(cells) > 1
        for i in range(len(table.headers))
    ]

    columns = list(zip(widths, numeric, strict=True))

    def line(row):
        return "| " + " | ".join(v.rjust(w) if n else v.ljust(w) for v, (w, n) in zip(row, columns, strict=True)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if n else ("-" * (w + 2)) for w, n in columns) + "|"
    heading = [f"**{table.title}**", ""] if table.title else []
    out = heading + [line(cells[0]), rule] + [line(row) for row in cells[1:]]
    return "\n".join(out)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def render_scenario(result: ScenarioResult) -> str:
    out = [f"## {result.name}: {result.title}", ""]
    if result.error:
        out += ["ERROR: the scenario did not finish:", "", "```", result.error.rstrip(), "```", ""]
    for table in result.tables:
        out += [render_table(table), ""]
    for note in result.notes:
        out.append(f"- {note}")
    if result.notes:
        out.append("")
    if result.targets:
        out += [render_table(targets_table(result.targets, "Targets")), ""]
    load = f"; 1-minute load average {result.load[0]:.1f} before, {result.load[1]:.1f} after" if result.load else ""
    out.append(f"({result.name} took {result.seconds:.0f} s{load})")
    return "\n".join(out)


def targets_table(targets, title, scenario=None) -> Table:
    headers = (["scenario"] if scenario is not None else []) + ["target", "measured", "status"]
    table = Table(title, headers)
    for target in targets:
        measured = cell(target.value)
        if target.value is None and target.skipped:
            measured = f"skipped: {target.skipped}"
        row = [f"{target.name} {target.op} {cell(target.threshold)}{' ' + target.unit if target.unit else ''}"]
        row = ([scenario[id(target)]] if scenario is not None else []) + row + [measured, target.status]
        table.rows.append(row)
    return table


def render_summary(results) -> str:
    targets, owner = [], {}
    for result in results:
        for target in result.targets:
            targets.append(target)
            owner[id(target)] = result.name
    table = targets_table(targets, "", scenario=owner)
    for result in results:
        if result.error:
            table.rows.append([result.name, "(the scenario failed: see above)", "-", "ERROR"])
    counts = {s: sum(1 for t in targets if t.status == s) for s in ("PASS", "MISS", "SKIP")}
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    errors = sum(1 for r in results if r.error)
    if errors:
        tally += f", {errors} ERROR"
    return "\n".join(["## Summary", "", render_table(table), "", tally or "no targets"])
