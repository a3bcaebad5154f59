"""Alert rules: promtool accepts them, and its unit tests fire and resolve every alert."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sensory.stack.prometheus import apt_install

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "monitoring"


@pytest.fixture(scope="module")
def promtool(tmp_path_factory) -> str:
    """Debian's promtool, installed with apt-get when missing (as the stack does)."""
    if shutil.which("promtool") is None:
        apt_install("prometheus", "promtool", tmp_path_factory.mktemp("apt") / "install.log")
    return shutil.which("promtool")


def _alerts() -> dict:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_promtool_checks_the_rules(promtool):
    result = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=MONITORING,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_promtool_unit_tests_fire_and_resolve_every_alert(promtool):
    subprocess.run([sys.executable, "make_alert_tests.py", "--check"], cwd=MONITORING,
                   check=True)
    tests = yaml.safe_load((MONITORING / "alerts_test.yml").read_text())["tests"]
    firing, quiet = set(), set()
    for group in tests:
        for case in group["alert_rule_test"]:
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    assert len(_alerts()) >= 15
    assert firing == set(_alerts()) == quiet
    result = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=MONITORING,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_runbook_entry():
    docs = (ROOT / "docs" / "observability.md").read_text(encoding="utf-8")
    headings = {re.sub(r"[^a-z0-9]", "", line.lower()) for line in docs.splitlines()
                if line.startswith("#")}
    for name, rule in _alerts().items():
        assert rule["annotations"]["runbook"].endswith(f"#{name.lower()}")
        assert name.lower() in headings, f"no runbook heading for {name}"
