"""Pipeline options shared by the social and market pipelines.

Both pipelines take the same options, so they live on one direct ``PipelineOptions`` subclass:
Beam collects the options of every direct subclass into one parser when it serialises a
pipeline, and two subclasses declaring the same flag would conflict there.
"""
import argparse

from apache_beam.options.pipeline_options import PipelineOptions


class SensoryOptions(PipelineOptions):
    """Options of ``sensory.pipelines.social`` and ``sensory.pipelines.market``."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("sensory")
        group.add_argument(
            "--input_file", default=None,
            help="Read JSON lines from this path or glob instead of Kafka. Default: none.")
        group.add_argument(
            "--output_dir", default=None,
            help="Write records to OUTPUT_DIR/records-*.jsonl and dead letters to "
                 "OUTPUT_DIR/dead_letters-*.jsonl. Default: none.")
        group.add_argument(
            "--pii_key_file", default=None,
            help="File holding the HMAC key for PII hashing. Default: none, which reads "
                 "$SENSORY_PII_KEY_FILE, then $SENSORY_PII_KEY; with neither the pipeline "
                 "refuses to start.")
        group.add_argument(
            "--categories_file", default=None,
            help="JSON table of product category -> keywords. Default: the bundled "
                 "transforms/data/categories.json.")
