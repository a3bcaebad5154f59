"""The PromQL expressions of the dashboards under ``monitoring/dashboards/``, for the tests."""
import json
from pathlib import Path

DASHBOARDS = Path(__file__).resolve().parents[2] / "monitoring" / "dashboards"


def dashboard_targets() -> list[tuple[str, str, str]]:
    """Every panel target as ``(dashboard title, panel title, PromQL expression)``."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            found += [(board["title"], panel["title"], t["expr"]) for t in panel["targets"]]
    return found
