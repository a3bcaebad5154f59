"""ChainStages: per-record stages as one step give what the stages give one by one."""
import json

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from sensory.messages import SourceMessage
from sensory.transforms.context import AddContext
from sensory.transforms.pii import ShieldPII
from sensory.transforms.stage import ChainStages
from sensory.transforms.validate import ValidateRecords

_POST = {"platform": "facebook", "post_id": "fb-1", "author": "rahim",
         "content": "Samsung Galaxy A15 for sale, call 01712345678",
         "engagement_count": 7, "posted_at": "2025-12-20T10:30:00Z", "location": "Dhaka"}
_MESSAGES = [
    SourceMessage(json.dumps(_POST).encode(), "t", 0, 1),
    SourceMessage(json.dumps({**_POST, "post_id": "fb-2", "content": "MacBook"}).encode(),
                  "t", 0, 2),
    SourceMessage(b"{broken", "t", 0, 3),
    SourceMessage(json.dumps({**_POST, "engagement_count": "lots"}).encode(), "t", 0, 4),
]
# The shield reads its key on the worker (in-process on DirectRunner).
pytestmark = pytest.mark.usefixtures("pii_key")

_NAMESPACES = ("sensory.schema_validator", "sensory.privacy_shield", "sensory.context_enricher")


def _stages():
    return ValidateRecords(kind="social"), ShieldPII(), AddContext()


def _expected_records() -> list[str]:
    # The stages' DoFns called directly, outside Beam: the reference both runs must give.
    fns = [stage.stage_fn() for stage in _stages()]
    for fn in fns:
        fn.setup()
    out = []
    for message in _MESSAGES:
        element = message
        for fn in fns:
            (element,) = fn.process(element)
            if not isinstance(element, dict):
                break
        else:
            out.append(_canonical(element))
    return out


def _canonical(record: dict) -> str:
    return json.dumps(record, sort_keys=True)


def _run(chained: bool):
    p = TestPipeline()
    messages = p | beam.Create(_MESSAGES)
    if chained:
        records, dead = messages | ChainStages(*_stages())
    else:
        validate, shield, context = _stages()
        valid, invalid = messages | validate
        shielded, shield_failed = valid | shield
        records, context_failed = shielded | context
        dead = (invalid, shield_failed, context_failed) | beam.Flatten()
    expected = _expected_records()
    assert len(expected) == 2
    assert_that(records | "Canonical" >> beam.Map(_canonical), equal_to(expected),
                label="records")
    assert_that(dead | "Why" >> beam.Map(lambda d: (d["metadata"]["offset"],
                                                    d["metadata"]["processor"],
                                                    d["error"]["type"])),
                equal_to([(3, "schema-validator", "ParseError"),
                          (4, "schema-validator", "ValidationError")]), label="dead")
    result = p.run()
    result.wait_until_finish()
    counters = {}
    for namespace in _NAMESPACES:
        for counter in result.metrics().query(
                MetricsFilter().with_namespace(namespace))["counters"]:
            counters[(namespace, counter.key.metric.name)] = counter.committed
    return counters


def test_chained_stages_give_the_records_dead_letters_and_metrics_of_the_stages():
    chained = _run(chained=True)
    separate = _run(chained=False)
    assert chained == separate
    assert chained[("sensory.schema_validator", "dead_lettered")] == 2
    assert chained[("sensory.privacy_shield", "ok")] == 2
    assert chained[("sensory.context_enricher", "ok")] == 2


def test_chained_records_are_shielded_and_enriched():
    with TestPipeline() as p:
        records, _ = p | beam.Create(_MESSAGES[:1]) | ChainStages(*_stages())
        assert_that(records | beam.Map(lambda r: ("author" in r, "01712345678" in r["content"],
                                                  r["context"]["category"]["name"])),
                    equal_to([(False, False, "smartphone")]))


def test_only_stages_can_be_chained():
    with pytest.raises(TypeError, match="stage_fn"):
        ChainStages(ValidateRecords(kind="social"), beam.Map(lambda x: x))
    with pytest.raises(ValueError):
        ChainStages()


@pytest.mark.parametrize("batch_size", [1, 3, 256])
def test_every_batch_size_gives_the_same_records(batch_size):
    # Batches that end mid-bundle, at the bundle's end, or hold the whole bundle.
    with TestPipeline() as p:
        records, dead = p | beam.Create(_MESSAGES) | ChainStages(*_stages(),
                                                                  batch_size=batch_size)
        assert_that(records | "Canonical" >> beam.Map(_canonical),
                    equal_to(_expected_records()), label="records")
        assert_that(dead | "Offsets" >> beam.Map(lambda d: d["metadata"]["offset"]),
                    equal_to([3, 4]), label="dead")


def test_outputs_keep_their_timestamps_and_windows():
    # Offset n at 1000 + 60 n s: each in its own 60 s window, which ends at 1020 + 60 n.
    stamped = [beam.window.TimestampedValue(m, 1000 + m.offset * 60) for m in _MESSAGES]
    with TestPipeline() as p:
        records, dead = (p | beam.Create(stamped)
                         | beam.WindowInto(beam.window.FixedWindows(60))
                         | ChainStages(*_stages(), batch_size=2))
        keyed = (records | "Key" >> beam.Map(lambda r: (r["_source"]["offset"], 1))
                 | "Count" >> beam.CombinePerKey(sum)
                 | "Stamp" >> beam.ParDo(_WithWindow()))
        assert_that(keyed, equal_to([(1, 1080.0), (2, 1140.0)]), label="records")
        dead_keyed = (dead | "KeyDead" >> beam.Map(lambda d: (d["metadata"]["offset"], 1))
                      | "CountDead" >> beam.CombinePerKey(sum)
                      | "StampDead" >> beam.ParDo(_WithWindow()))
        assert_that(dead_keyed, equal_to([(3, 1200.0), (4, 1260.0)]), label="dead")


class _WithWindow(beam.DoFn):
    def process(self, element, window=beam.DoFn.WindowParam):
        yield element[0], float(window.end)


def test_bad_batch_size_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        ChainStages(*_stages(), batch_size=0)
