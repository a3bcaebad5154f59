"""Test helper run as a subprocess: an unbounded ReadFromKafka that appends values to a file.

Usage: python kafka_stream_reader.py BOOTSTRAP TOPIC GROUP OUTPUT_FILE
"""
import sys

import apache_beam as beam

from sensory.io.kafka import ReadFromKafka


class _Append(beam.DoFn):
    def __init__(self, path):
        super().__init__()
        self._path = path

    def process(self, message):
        # One line per message, flushed at once, so the test sees progress while we run.
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(message.value.decode() + "\n")


def main():
    bootstrap, topic, group, output = sys.argv[1:5]
    with beam.Pipeline() as pipeline:
        _ = (pipeline
             | ReadFromKafka(bootstrap_servers=bootstrap, topics=[topic], consumer_group=group,
                             poll_timeout_s=0.5, idle_lag_s=1.0)
             | beam.ParDo(_Append(output)))


if __name__ == "__main__":
    main()
