"""The processing graph both pipelines share: validate → shield PII → add context → sinks."""
import logging
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam import PCollection

from sensory.io.files import ReadJsonLines, WriteJsonLines
from sensory.models import RECORD_MODELS
from sensory.pipelines.options import SensoryOptions
from sensory.settings import ConfigurationError, load_pii_key
from sensory.transforms.context import AddContext, load_category_table
from sensory.transforms.pii import ScrubDeadLetters, ShieldPII
from sensory.transforms.validate import ValidateRecords

_LOGGER = logging.getLogger(__name__)

RECORDS_FILE = "records"
DEAD_LETTERS_FILE = "dead_letters"


class PipelineOutputs(NamedTuple):
    """What ``build_pipeline`` returns, so tests can assert on it.

    Attributes:
        records: Processed records (validated, PII-free, with context).
        dead_letters: Every dead letter of every stage, already scrubbed of PII.
    """

    records: PCollection
    dead_letters: PCollection


def check_options(options: SensoryOptions) -> None:
    """Fails fast, before any worker starts, on settings the run cannot go without.

    Raises:
        ConfigurationError: No PII key, or no source or sink given.
    """
    load_pii_key(options.pii_key_file)
    if not options.input_file:
        raise ConfigurationError("no source: pass --input_file=PATH (JSON lines)")
    if not options.output_dir:
        raise ConfigurationError("no sink: pass --output_dir=DIR")


def build_pipeline(pipeline: beam.Pipeline, options: SensoryOptions, *, kind: str,
                   messages: Optional[PCollection] = None) -> PipelineOutputs:
    """Adds the whole job for one record kind to ``pipeline``.

    Args:
        pipeline: The pipeline to add to.
        options: Its options, viewed as ``SensoryOptions``.
        kind: ``"social"`` or ``"market"``.
        messages: Raw messages to use instead of the configured source (tests pass a
            ``beam.Create``); elements are ``SourceMessage``, bytes or str.

    Returns:
        The records and the (scrubbed) dead letters.
    """
    if kind not in RECORD_MODELS:
        raise ValueError(f"kind must be one of {sorted(RECORD_MODELS)}, got {kind!r}")
    if messages is None:
        messages = pipeline | "ReadFiles" >> ReadJsonLines(file_pattern=options.input_file)
    categories = load_category_table(options.categories_file)

    valid, invalid = messages | "Validate" >> ValidateRecords(kind=kind)
    shielded, shield_failed = valid | "ShieldPII" >> ShieldPII(key_file=options.pii_key_file)
    records, context_failed = shielded | "AddContext" >> AddContext(categories=categories)
    dead_letters = (
        (invalid, shield_failed, context_failed)
        | "AllDeadLetters" >> beam.Flatten()
        | "ScrubDeadLetters" >> ScrubDeadLetters(key_file=options.pii_key_file))

    if options.output_dir:
        _ = records | "WriteRecords" >> WriteJsonLines(
            output_dir=options.output_dir, name=RECORDS_FILE)
        _ = dead_letters | "WriteDeadLetters" >> WriteJsonLines(
            output_dir=options.output_dir, name=DEAD_LETTERS_FILE)
    return PipelineOutputs(records, dead_letters)
