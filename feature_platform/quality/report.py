"""Results of validating a feature view's rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ExpectationOutcome:
    """The result of one expectation on one batch of rows.

    ``name`` is the expectation type (``expect_column_values_to_not_be_null``); ``columns``
    the column(s) it checked. ``unexpected_values`` and ``sample_rows`` hold at most five
    offending values / rows (each sample row has ``row``, its 0-based position in the
    input, the join keys, both timestamps and the checked columns), JSON-friendly.
    ``observed`` is the measured value of aggregate expectations (a column's type).
    ``error`` is set when the expectation could not be evaluated (a missing column): it
    then counts as failed.
    """

    name: str
    columns: tuple[str, ...]
    success: bool
    unexpected_count: int | None = None
    unexpected_values: tuple[object, ...] = ()
    sample_rows: tuple[dict[str, object], ...] = ()
    observed: object | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        """``name(col, ...)``: how the expectation is named in summaries and metadata."""
        return f"{self.name}({', '.join(self.columns)})"

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly dict of this outcome."""
        data: dict[str, object] = {
            "expectation": self.name,
            "columns": list(self.columns),
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "unexpected_values": list(self.unexpected_values),
            "sample_rows": [dict(r) for r in self.sample_rows],
        }
        if self.observed is not None:
            data["observed"] = self.observed
        if self.error is not None:
            data["error"] = self.error
        return data


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of a feature view's suite on one batch (typically one partition)."""

    view: str
    success: bool
    row_count: int
    evaluated_at: datetime
    results: tuple[ExpectationOutcome, ...] = field(default_factory=tuple)

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        """The expectations that failed or could not be evaluated."""
        return tuple(r for r in self.results if not r.success)

    def to_metadata(self) -> dict[str, object]:
        """JSON-friendly metadata (for a Dagster asset check result): counts, failed
        expectation labels and, for each failure, its unexpected values and sample rows."""
        return {
            "view": self.view,
            "success": self.success,
            "row_count": self.row_count,
            "evaluated_at": self.evaluated_at.isoformat(),
            "expectations": len(self.results),
            "failed_count": len(self.failures),
            "failed_expectations": [r.label for r in self.failures],
            "failures": [r.to_dict() for r in self.failures],
        }

    def summary(self) -> str:
        """A short human-readable account: verdict, then one line per failed expectation."""
        verdict = "passed" if self.success else "FAILED"
        head = (
            f"Feature view {self.view!r}: validation {verdict} on {self.row_count} rows "
            f"({len(self.results) - len(self.failures)}/{len(self.results)} expectations met)"
        )
        lines = [head]
        for r in self.failures:
            if r.error is not None:
                detail = f"error: {r.error}"
            elif r.unexpected_count is not None:
                detail = f"{r.unexpected_count} unexpected, e.g. {list(r.unexpected_values)}"
            else:
                detail = f"observed {r.observed!r}"
            lines.append(f"  - {r.label}: {detail}")
        return "\n".join(lines)
