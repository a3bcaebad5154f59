"""The social pipeline: social records in; clean, PII-free, context-enriched records out.

Usage::

    python -m sensory.pipelines.social --input_file=in.jsonl --output_dir=out/ [beam options]
"""
import logging
import sys
from typing import Optional, Sequence

import apache_beam as beam

from sensory.models import SOCIAL
from sensory.pipelines import core, launcher
from sensory.pipelines.options import SensoryOptions

KIND = SOCIAL


class SocialOptions(SensoryOptions):
    """Options of the social pipeline (all shared with the other pipeline; see SensoryOptions)."""


def build_pipeline(pipeline: beam.Pipeline, options: SensoryOptions,
                   messages: Optional[beam.PCollection] = None) -> core.PipelineOutputs:
    """Adds the social job to ``pipeline``; see ``sensory.pipelines.core.build_pipeline``."""
    return core.build_pipeline(pipeline, options, kind=KIND, messages=messages)


def run(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the social pipeline with command-line options; returns the exit code."""
    return launcher.run(KIND, argv, SocialOptions)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(run())
