"""JSON-lines files as a source and a sink (file mode)."""
import json
import os
from typing import Any, Iterable

import apache_beam as beam
from apache_beam import PCollection
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from sensory.messages import SourceMessage

FILES_NAMESPACE = "sensory.files"


def _numbered_lines(readable: fileio.ReadableFile) -> Iterable[SourceMessage]:
    lines = Metrics.counter(FILES_NAMESPACE, "lines_read")
    with readable.open() as handle:
        for number, line in enumerate(handle, start=1):
            lines.inc()
            # Only the line ending goes: a line of spaces is still an input (and a dead letter).
            yield SourceMessage(value=line.rstrip(b"\r\n"), offset=number)


class ReadJsonLines(beam.PTransform[beam.pvalue.PBegin, PCollection[SourceMessage]]):
    """Reads files line by line, as raw bytes, into ``SourceMessage`` (offset = line number).

    Lines stay bytes so that invalid UTF-8 becomes a dead letter downstream instead of failing
    the read. A file's trailing newline does not make an extra empty line.

    Args:
        file_pattern: A path or glob.
    """

    def __init__(self, *, file_pattern: str):
        super().__init__()
        if not file_pattern:
            raise ValueError("file_pattern must not be empty")
        self._file_pattern = file_pattern

    def expand(self, pbegin: beam.pvalue.PBegin) -> PCollection[SourceMessage]:
        return (pbegin
                | "Match" >> fileio.MatchFiles(self._file_pattern,
                                               empty_match_treatment="DISALLOW")
                | "Open" >> fileio.ReadMatches()
                | "Lines" >> beam.FlatMap(_numbered_lines))


def to_json_line(element: Any) -> str:
    """Serialises one element as a compact, key-sorted JSON line (UTF-8 kept as is)."""
    return json.dumps(element, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class WriteJsonLines(beam.PTransform[PCollection[dict], PCollection[str]]):
    """Writes dicts as ``<output_dir>/<name>-SSSSS-of-NNNNN.jsonl``.

    Args:
        output_dir: Target directory (local path or any Beam filesystem URL).
        name: File name prefix, e.g. ``records`` or ``dead_letters``.
    """

    def __init__(self, *, output_dir: str, name: str):
        super().__init__()
        if not output_dir or not name:
            raise ValueError("output_dir and name are required")
        self._prefix = os.path.join(output_dir, name)

    def expand(self, elements: PCollection[dict]):
        return (elements
                | "ToJson" >> beam.Map(to_json_line)
                | "Write" >> beam.io.WriteToText(self._prefix, file_name_suffix=".jsonl"))
