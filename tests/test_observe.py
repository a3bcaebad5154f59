"""The end-to-end latency tap: age of each record from its source timestamp."""
import time

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.transforms.window import TimestampedValue

from sensory.transforms.observe import END_TO_END_NAMESPACE, ObserveEndToEndLatency


def test_latency_is_the_age_of_the_source_timestamp_and_untimed_records_are_counted():
    produced = time.time() - 2.0
    pipeline = TestPipeline()
    _ = (pipeline
         | beam.Create([("a", produced), ("b", produced), ("file", 0.0)])
         | beam.Map(lambda item: TimestampedValue(item[0], item[1]))
         | ObserveEndToEndLatency())
    result = pipeline.run()
    result.wait_until_finish()
    metrics = result.metrics().query(MetricsFilter().with_namespace(END_TO_END_NAMESPACE))
    (latency,) = [d.committed for d in metrics["distributions"] if d.key.metric.name == "latency_ms"]
    (untimed,) = [c.committed for c in metrics["counters"] if c.key.metric.name == "untimed"]
    assert latency.count == 2
    # Two seconds old when produced here, plus however long the pipeline took to start.
    assert 2000 <= latency.min <= latency.max < 2000 + (time.time() - produced - 2.0) * 1000 + 50
    assert untimed == 1
