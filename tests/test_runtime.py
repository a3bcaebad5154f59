"""Worker-process tuning: the garbage collector, once per process."""
import subprocess
import sys

import pytest

from sensory.pipelines.core import check_options
from sensory.pipelines.options import SensoryOptions
from sensory.runtime import WorkerTuning, tune_gc
from sensory.settings import ConfigurationError

# Run in a fresh interpreter: tuning is once per process, and this one runs every other test.
_PROBE = """
import gc
from sensory.runtime import WorkerTuning, tune_gc
before = gc.get_threshold()
first = tune_gc(12345)
after = gc.get_threshold()
frozen = gc.get_freeze_count()
second = tune_gc(777)
print(first, second, before[1:] == after[1:], after[0], frozen > 1000, gc.get_threshold()[0])
"""


def test_first_call_freezes_and_raises_the_young_threshold_later_calls_change_nothing():
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          check=True)
    first, second, older_kept, young, frozen, young_after = done.stdout.split()
    assert (first, second) == ("True", "False")
    assert older_kept == "True"
    assert young == young_after == "12345"
    assert frozen == "True"


def test_zero_leaves_the_collector_alone():
    assert tune_gc(0) is False


@pytest.mark.parametrize("bad", [-1, 1.5, True, "50000"])
def test_a_threshold_that_is_not_a_count_is_refused(bad):
    with pytest.raises(ValueError, match="young_threshold"):
        tune_gc(bad)


@pytest.mark.parametrize("bad", [-1, 1001, True, "1"])
def test_a_switch_interval_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="switch_interval_ms"):
        WorkerTuning(switch_interval_ms=bad).check()


_SWITCH_PROBE = """
import sys
from sensory.runtime import WorkerTuning, tune_worker
tune_worker(WorkerTuning(gc_young_threshold=0, switch_interval_ms=0))
unchanged = sys.getswitchinterval()
tune_worker(WorkerTuning(gc_young_threshold=0, switch_interval_ms=2.5))
print(unchanged, sys.getswitchinterval())
"""


def test_the_switch_interval_is_set_in_milliseconds_and_zero_keeps_pythons():
    done = subprocess.run([sys.executable, "-c", _SWITCH_PROBE], capture_output=True, text=True,
                          check=True)
    assert [float(value) for value in done.stdout.split()] == [0.005, 0.0025]


@pytest.mark.parametrize("flag", ["--gc_young_threshold=-5", "--switch_interval_ms=-1"])
def test_a_bad_option_fails_before_the_run_naming_itself(monkeypatch, flag):
    monkeypatch.setenv("SENSORY_PII_KEY", "k" * 32)
    options = SensoryOptions([flag, "--no_weather"])
    with pytest.raises(ConfigurationError, match=flag.split("=")[0]):
        check_options(options)
