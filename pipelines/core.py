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


class ProcessRecords(beam.PTransform[PCollection, PCollection[dict]]):
    """Validate → shield PII → add context; returns ``(records, scrubbed_dead_letters)``.

    Args:
        kind: ``"social"`` or ``"market"``.
        key_file: PII key file, or None for ``$SENSORY_PII_KEY``.
        categories: Category keyword table.
    """

    def __init__(self, *, kind: str, key_file: Optional[str], categories: dict):
        super().__init__()
        if kind not in RECORD_MODELS:
            raise ValueError(f"kind must be one of {sorted(RECORD_MODELS)}, got {kind!r}")
        self._kind = kind
        self._key_file = key_file
        self._categories = categories

    def expand(self, messages):  # -> (records, dead_letters)
        valid, invalid = messages | "Validate" >> ValidateRecords(kind=self._kind)
        shielded, shield_failed = valid | "ShieldPII" >> ShieldPII(key_file=self._key_file)
        records, context_failed = shielded | "AddContext" >> AddContext(
            categories=self._categories)
        dead_letters = (
            (invalid, shield_failed, context_failed)
            | "AllDeadLetters" >> beam.Flatten()
            | "ScrubDeadLetters" >> ScrubDeadLetters(key_file=self._key_file))
        return records, dead_letters


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
    label = kind.capitalize()
    if messages is None:
        messages = pipeline | f"Read{label}Files" >> ReadJsonLines(file_pattern=options.input_file)
    records, dead_letters = messages | f"Process{label}" >> ProcessRecords(
        kind=kind, key_file=options.pii_key_file,
        categories=load_category_table(options.categories_file))

    if options.output_dir:
        _ = records | f"Write{label}Records" >> WriteJsonLines(
            output_dir=options.output_dir, name=RECORDS_FILE)
        _ = dead_letters | f"Write{label}DeadLetters" >> WriteJsonLines(
            output_dir=options.output_dir, name=DEAD_LETTERS_FILE)
    return PipelineOutputs(records, dead_letters)
