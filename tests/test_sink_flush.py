"""BufferedSinkFn's flush policy: a timer writes a waiting buffer without a next record."""
import json
import threading
import time

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from sensory.io.sink import BufferedSinkFn, split_sink_outputs

NAMESPACE = "sensory.test_sink"


class _FileSinkFn(BufferedSinkFn):
    """Appends each written record with the time of its write to a JSON-lines file."""

    def __init__(self, path: str, **kwargs):
        super().__init__(namespace=NAMESPACE, processor="test-sink", max_retries=0,
                         backoff_s=0, **kwargs)
        self._path = path

    def written_key(self, record):
        return record["id"]

    def write_batch(self, batch):
        with open(self._path, "a", encoding="utf-8") as handle:
            for record in batch:
                handle.write(json.dumps({"id": record["id"], "at": time.time()}) + "\n")
        return {}


def _slow_source(_, path):
    # Two records in one bundle, the second 1.5 s after the first (a quiet stream).
    yield {"id": "first"}
    time.sleep(1.5)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "second-emitted", "at": time.time()}) + "\n")
    yield {"id": "second"}


def _run(tmp_path, max_buffering_s):
    path = str(tmp_path / "writes.jsonl")
    pipeline = beam.Pipeline()
    records = pipeline | beam.Create([None]) | beam.FlatMap(_slow_source, path)
    written, dead = split_sink_outputs(records, "Write", _FileSinkFn(
        path, batch_size=100, max_buffering_s=max_buffering_s))
    assert_that(written, equal_to(["first", "second"]), label="written")
    assert_that(dead, equal_to([]), label="no_dead_letters")
    result = pipeline.run()
    result.wait_until_finish()
    events = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            events[event["id"]] = event["at"]
    timers = sum(c.committed for c in result.metrics().query(
        MetricsFilter().with_namespace(NAMESPACE).with_name("timer_flushes"))["counters"])
    return events, timers


def test_timer_writes_a_waiting_record_before_the_next_one_arrives(tmp_path):
    events, timers = _run(tmp_path, max_buffering_s=0.3)
    assert events["first"] < events["second-emitted"] - 0.5, events
    assert timers >= 1


def test_without_the_timer_due_the_bundle_end_writes_both(tmp_path):
    events, timers = _run(tmp_path, max_buffering_s=30)
    assert events["first"] > events["second-emitted"], events
    assert timers == 0


def test_snowflake_sink_removes_its_staging_folder_at_teardown():
    # pylint: disable=protected-access
    import os
    from sensory.io.snowflake import _WriteFn
    from sensory.io.snowflake_conn import SnowflakeSettings
    fn = _WriteFn(SnowflakeSettings.from_env(), batch_size=10, max_buffering_s=1, max_retries=0,
                  backoff_s=0)
    fn.setup()
    workdir = fn._workdir
    assert os.path.isdir(workdir)
    fn.teardown()
    assert not os.path.exists(workdir)


class _OrderedSinkFn(BufferedSinkFn):
    """Two writers; the first batch is slow before its ordered part, the second fast."""

    def __init__(self, log: list, **kwargs):
        super().__init__(namespace=NAMESPACE, processor="test-ordered-sink", max_retries=0,
                         backoff_s=0, **kwargs)
        self._log = log
        self._lock = threading.Lock()
        self._active = 0

    def written_key(self, record):
        return record["id"]

    def write_batch(self, batch):
        with self._lock:
            self._active += 1
            self._log.append(("active", self._active))
        time.sleep(0.4 if batch[0]["id"] == 0 else 0.05)
        with self.in_order():
            self._log.append(("merge", batch[0]["id"]))
        with self._lock:
            self._active -= 1
        return {}


def test_two_writers_write_side_by_side_and_keep_hand_off_order():
    log: list = []
    fn = _OrderedSinkFn(log, batch_size=2, max_buffering_s=60, writers=2)
    fn.setup()
    try:
        fn.start_bundle()
        written = []
        for index in range(4):  # two batches of two: ids 0-1 then 2-3
            written += [out.value for out in fn.process({"id": index})]
        written += [out.value.value for out in fn.finish_bundle()]
    finally:
        fn.teardown()
    assert sorted(written) == [0, 1, 2, 3]
    # The second batch started while the first was still writing ...
    assert ("active", 2) in log
    # ... but its ordered part waited for the first batch's.
    assert [entry[1] for entry in log if entry[0] == "merge"] == [0, 2]


def test_writers_must_be_positive():
    with pytest.raises(ValueError, match="writers"):
        _OrderedSinkFn([], batch_size=2, max_buffering_s=60, writers=0)
