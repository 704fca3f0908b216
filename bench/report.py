"""Figures with their baselines and targets: a table on stdout and a bar chart (SVG)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure: against a baseline as a ratio, or against an absolute limit."""

    store: str
    name: str
    value: float
    baseline: float | None
    target_ratio: float | None  # value / baseline must reach this
    limit: float | None = None  # or: value must stay at or under this
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def target(self) -> str:
        if self.target_ratio is not None:
            return f">= {self.target_ratio:g}x"
        return f"<= {self.limit:g}" if self.limit is not None else "-"

    @property
    def met(self) -> bool | None:
        if self.target_ratio is not None and self.ratio is not None:
            return self.ratio >= self.target_ratio
        if self.limit is not None:
            return self.value <= self.limit
        return None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def print_figures(figures: list[Figure], command: str) -> None:
    header = ["store", "figure", "ledger", "baseline", "ratio", "target", "met"]
    rows = [
        [
            f.store,
            f.name,
            _number(f.value),
            _number(f.baseline),
            f"{f.ratio:.2f}x" if f.ratio is not None else "-",
            f.target,
            {True: "yes", False: "NO", None: "-"}[f.met],
        ]
        for f in figures
    ]
    print(f"\n{command}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    for f in figures:
        if f.note:
            print(f"- {f.store}, {f.name}: {f.note}")


def write_chart(figures: list[Figure], path: Path, title: str) -> None:
    """Bars of value / target for every figure with a target: 1.0 and beyond means met."""
    rows = []
    for f in figures:
        if f.target_ratio is not None and f.ratio is not None:
            rows.append((f"{f.store}: {f.name}", f.ratio / f.target_ratio, f"{f.ratio:.2f}x"))
        elif f.limit is not None:
            rows.append((f"{f.store}: {f.name}", f.limit / max(f.value, 1e-9), _number(f.value)))
    width, left, bar_height = 900, 430, 22
    height = 60 + bar_height * len(rows) + 30
    scale = (width - left - 80) / max([2.0, *(r[1] for r in rows)])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' font-family="sans-serif" font-size="12">',
        f'<text x="10" y="22" font-size="15">{escape(title)}'
        " (bar = how far each figure is toward its target; the line is the target)</text>",
    ]
    for i, (label, reached, shown) in enumerate(rows):
        y = 45 + i * bar_height
        color = "#2e7d32" if reached >= 1 else "#c62828"
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        parts.append(
            f'<rect x="{left}" y="{y + 3}" width="{reached * scale:.1f}"'
            f' height="{bar_height - 6}" fill="{color}"/>'
        )
        parts.append(f'<text x="{left + reached * scale + 6:.1f}" y="{y + 15}">{shown}</text>')
    target_x = left + scale
    parts.append(
        f'<line x1="{target_x:.1f}" y1="38" x2="{target_x:.1f}" y2="{height - 20}"'
        ' stroke="black" stroke-dasharray="4 3"/>'
    )
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")
