"""AML screening state of one check: latest result, hit totals, monitoring (DESIGN §5.3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RESULTS = ("check.completed", "check.matched")
MONITORING = ("check.monitoring.new_hits", "check.monitoring.clear")


def _int(payload: dict[str, Any], name: str) -> int | None:
    value = payload.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class Screening:
    """A check's current AML picture, as its deliveries describe it."""

    check_id: str
    check_type: str | None = None
    status: str | None = None
    has_hits: bool = False
    total_hit_count: int | None = None
    new_hit_count: int = 0
    open_monitoring_hits: int = 0
    monitoring_runs: int = 0
    last_hit_types: list[str] = field(default_factory=list)
    sanction_hit: bool = False
    max_score: float | None = None
    pep_risk_tier: str | None = None
    pep_classes: list[str] | None = None
    is_sandbox: bool | None = None

    @classmethod
    def fold(
        cls, check_id: str, state: Screening | None, event_type: str, payload: dict[str, Any]
    ) -> Screening | None:
        """The check after one more delivery; other `check.*` types do not make a screening."""
        if event_type not in RESULTS + MONITORING:
            return state
        state = state or cls(check_id)
        state.apply(event_type, payload)
        return state

    @property
    def open_hits(self) -> int:
        """The hits this check contributes to its subject's `open_hit_count`."""
        if not self.has_hits:
            return 0
        return self.total_hit_count if self.total_hit_count else self.open_monitoring_hits

    def apply(self, event_type: str, payload: dict[str, Any]) -> None:
        """Fold one `check.*` delivery into the check's state."""
        if event_type in RESULTS:
            self._result(payload)
        elif event_type in MONITORING:
            self._monitoring_run(event_type, payload)
        if isinstance(payload.get("is_sandbox"), bool):
            self.is_sandbox = payload["is_sandbox"]

    def _result(self, payload: dict[str, Any]) -> None:
        if isinstance(payload.get("check_type"), str):
            self.check_type = payload["check_type"]
        reported = payload.get("status")
        hit_count = _int(payload, "hit_count")
        if hit_count is not None:
            self.total_hit_count = hit_count
        self._assess(hit_count > 0 if hit_count is not None else reported == "hit")
        self.status = reported if isinstance(reported, str) else None  # the result's own word
        for name in ("pep_risk_tier", "pep_classes", "max_score"):
            if payload.get(name) is not None:
                setattr(self, name, payload[name])

    def _monitoring_run(self, event_type: str, payload: dict[str, Any]) -> None:
        self.monitoring_runs += 1
        hit_types = payload.get("hit_types")
        self.last_hit_types = list(hit_types) if isinstance(hit_types, list) else []
        new_hits = _int(payload, "new_hit_count") or 0
        total = _int(payload, "total_hit_count")
        if total is not None:
            self.total_hit_count = total
            self._assess(total > 0)
        elif new_hits > 0:
            self._assess(True)  # no total reported, but new hits are hits
        if event_type == "check.monitoring.new_hits":
            self.new_hit_count += new_hits
            self.sanction_hit = new_hits > 0 and "sanction" in self.last_hit_types
            if self.has_hits:
                self.open_monitoring_hits += new_hits

    def _assess(self, has_hits: bool) -> None:
        self.has_hits = has_hits
        self.status = "hit" if has_hits else "clear"
        if not has_hits:
            self.open_monitoring_hits = 0
