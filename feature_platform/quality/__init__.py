"""Data quality of feature rows: a great_expectations suite per feature view, and a leakage check.

great_expectations is imported only when a suite is built or run (it takes seconds to
import), so importing this package stays cheap.
"""

from feature_platform.quality.leakage import LeakageReport, check_no_future_rows
from feature_platform.quality.report import ExpectationOutcome, ValidationReport
from feature_platform.quality.suite import build_expectations
from feature_platform.quality.validate import validate_feature_rows

__all__ = [
    "ExpectationOutcome",
    "LeakageReport",
    "ValidationReport",
    "build_expectations",
    "check_no_future_rows",
    "validate_feature_rows",
]
