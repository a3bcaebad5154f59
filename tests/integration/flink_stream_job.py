"""Submits the social pipeline as a streaming job to the stack's Flink cluster and exits.

Besides the real sinks, every record the pipeline delivers is appended (its post_id, one line)
to an audit file, so the test can count deliveries before the sinks' de-duplication.

Usage: flink_stream_job.py AUDIT_FILE [pipeline options ...]
"""
import logging
import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from sensory.pipelines.core import build_pipeline
from sensory.pipelines.options import SensoryOptions


class _AppendIds(beam.DoFn):
    def __init__(self, path):
        super().__init__()
        self._path = path
        self._handle = None

    def setup(self):
        self._handle = open(self._path, "a", encoding="utf-8")  # pylint: disable=consider-using-with

    def process(self, record):
        self._handle.write(f"{record['post_id']}\n")

    def finish_bundle(self):
        self._handle.flush()

    def teardown(self):
        self._handle.close()


def main(argv):
    audit, options = argv[0], PipelineOptions(argv[1:])
    pipeline = beam.Pipeline(options=options)
    outputs = build_pipeline(pipeline, options.view_as(SensoryOptions), kind="social")
    _ = outputs.records | "Audit" >> beam.ParDo(_AppendIds(audit))
    pipeline.run()  # the job runs on the cluster; this client need not wait for it


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main(sys.argv[1:])
