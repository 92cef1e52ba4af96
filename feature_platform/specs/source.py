"""Where a feature view's rows come from."""

from __future__ import annotations

from dataclasses import dataclass

from feature_platform.specs._validation import check_identifier


@dataclass(frozen=True)
class TableSource:
    """A table of the DuckDB warehouse, normally a dbt model, that holds a view's rows.

    ``event_timestamp_column`` says when each fact happened and ``created_timestamp_column``
    when the platform learned it (the ingestion time); both must be columns of the table.
    ``dbt_model`` names the dbt model that builds the table (it is the table name unless
    given), so the feature view's asset depends on that model's asset.
    """

    table: str
    event_timestamp_column: str = "event_timestamp"
    created_timestamp_column: str = "created_timestamp"
    dbt_model: str | None = None

    def __post_init__(self) -> None:
        check_identifier(self.table, "Source table")
        check_identifier(self.event_timestamp_column, f"Source {self.table!r}: event timestamp column")
        check_identifier(
            self.created_timestamp_column, f"Source {self.table!r}: created timestamp column"
        )
        if self.dbt_model is None:
            object.__setattr__(self, "dbt_model", self.table)
        else:
            check_identifier(self.dbt_model, f"Source {self.table!r}: dbt model")
