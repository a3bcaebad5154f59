"""The market pipeline: market records in; clean, PII-free, context-enriched records out.

Usage::

    python -m sensory.pipelines.market --input_file=in.jsonl --output_dir=out/ [beam options]
"""
import logging
import sys
from typing import Optional, Sequence

import apache_beam as beam

from sensory.models import MARKET
from sensory.pipelines import core, launcher
from sensory.pipelines.options import SensoryOptions

KIND = MARKET


class MarketOptions(SensoryOptions):
    """Options of the market pipeline (all shared with the other pipeline; see SensoryOptions)."""


def build_pipeline(pipeline: beam.Pipeline, options: SensoryOptions,
                   messages: Optional[beam.PCollection] = None) -> core.PipelineOutputs:
    """Adds the market job to ``pipeline``; see ``sensory.pipelines.core.build_pipeline``."""
    return core.build_pipeline(pipeline, options, kind=KIND, messages=messages)


def run(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the market pipeline with command-line options; returns the exit code."""
    return launcher.run(KIND, argv, MarketOptions)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(run())
