"""One Kafka read in a fresh process, so that two readers are measured behind the same steps.

``--reader ours`` is Sensory's ``ReadFromKafka`` (run this with the project's python);
``--reader nuggets`` is beam-nuggets' ``KafkaConsume`` (run this with a throwaway venv's python
that has beam-nuggets installed: it is never a dependency of the project). Each reader is
imported only when chosen, so the nuggets venv needs nothing but beam-nuggets and apache-beam.
Both run on DirectRunner (FnApiRunner), with the same consumer group semantics (start at the
group's committed offset, else the earliest).

Modes:
  stamp   Throughput. A step behind the reader writes the wall time of the first and of the
          ``--messages``-th message it sees to ``OUT/stamps.json``. The read then ends: ours with
          ``read_until_end``; nuggets with kafka-python's ``consumer_timeout_ms`` (``--idle_s``),
          its iterator's only way to stop: it ends after that long without a message.
  direct  Kill test. Messages pass a throttle (``--rate`` msg/s, standing in for a pipeline
          slower than its reader; it writes how many it has processed to ``OUT/progress``), then
          a sink appends each message's ``post_id`` to ``OUT/delivered.txt``, flushed per message.
  bundle  Kill test, the same with the project's sink pattern: the sink buffers in ``process``
          and writes in ``finish_bundle``.
  In the kill modes the read is unbounded (ours: also ``--bounded`` for ``read_until_end``);
  bench/kafka_kill.py SIGKILLs the process part-way and compares the group's committed offsets
  with ``delivered.txt``.

Prints one JSON line: ``t0`` (wall time just before the pipeline is built, imports done) and
``t_end`` (after it finished).
"""
import argparse
import json
import os
import time

import apache_beam as beam

STAMP, DIRECT, BUNDLE = "stamp", "direct", "bundle"


def _value(element):
    """The message value: ours yields ``SourceMessage``, nuggets ``(key, decoded value)``."""
    return element.value if hasattr(element, "value") else element[1]


class _StampFn(beam.DoFn):
    """Writes the wall time of the first and of the ``count``-th message to ``path``."""

    def __init__(self, path: str, count: int):
        super().__init__()
        self._path, self._count = path, count
        self._seen, self._first = 0, None

    def process(self, element):
        self._seen += 1
        if self._first is None:
            self._first = time.time()
        if self._seen == self._count:
            with open(self._path, "w", encoding="utf-8") as out:
                json.dump({"t_first": self._first, "t_nth": time.time(), "seen": self._seen}, out)
        yield element


class _ThrottleFn(beam.DoFn):
    """Lets at most ``rate`` msg/s through and records how many it has let through."""

    _EVERY = 50

    def __init__(self, path: str, rate: float):
        super().__init__()
        self._path, self._rate = path, rate
        self._seen = 0

    def process(self, element):
        self._seen += 1
        if self._seen % self._EVERY == 0:
            time.sleep(self._EVERY / self._rate)
            with open(self._path, "w", encoding="utf-8") as out:
                out.write(str(self._seen))
        yield element


class _DirectSinkFn(beam.DoFn):
    """Appends each message's post_id to a file, flushed per message."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path
        self._out = None

    def setup(self):
        self._out = open(self._path, "a", encoding="utf-8")  # pylint: disable=consider-using-with

    def process(self, element):
        self._out.write(json.loads(_value(element))["post_id"] + "\n")
        self._out.flush()

    def teardown(self):
        if self._out is not None:
            self._out.close()


class _BundleSinkFn(beam.DoFn):
    """Buffers post_ids in ``process`` and writes them in ``finish_bundle``."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path
        self._buffer = []

    def process(self, element):
        self._buffer.append(json.loads(_value(element))["post_id"])

    def finish_bundle(self):
        if self._buffer:
            with open(self._path, "a", encoding="utf-8") as out:
                out.write("".join(f"{post_id}\n" for post_id in self._buffer))
            self._buffer = []


def _reader(args):
    if args.reader == "ours":
        from sensory.io.kafka import ReadFromKafka  # pylint: disable=import-outside-toplevel
        return ReadFromKafka(bootstrap_servers=args.bootstrap, topics=[args.topic],
                             consumer_group=args.group,
                             read_until_end=args.mode == STAMP or args.bounded)
    from beam_nuggets.io.kafkaio import KafkaConsume  # pylint: disable=import-outside-toplevel,import-error
    config = {"topic": args.topic, "bootstrap_servers": args.bootstrap, "group_id": args.group,
              "auto_offset_reset": "earliest"}  # kafka-python's default is "latest"
    if args.mode == STAMP:
        config["consumer_timeout_ms"] = int(args.idle_s * 1000)
    return KafkaConsume(consumer_config=config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", choices=("ours", "nuggets"), required=True)
    parser.add_argument("--mode", choices=(STAMP, DIRECT, BUNDLE), required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--out", required=True, help="folder for stamps/progress/delivered")
    parser.add_argument("--messages", type=int, default=0, help="stamp: the N-th to time")
    parser.add_argument("--idle_s", type=float, default=10.0,
                        help="stamp, nuggets: consumer_timeout_ms in seconds (default 10; it also "
                             "bounds the wait for the first message, group join included)")
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="kill modes: msg/s the throttle lets through (default 1000)")
    parser.add_argument("--bounded", action="store_true",
                        help="kill modes, ours: read_until_end instead of unbounded")
    args = parser.parse_args()
    read = _reader(args)
    t0 = time.time()
    with beam.Pipeline(argv=["--runner=DirectRunner"]) as pipeline:
        messages = pipeline | "Read" >> read
        if args.mode == STAMP:
            _ = messages | "Stamp" >> beam.ParDo(
                _StampFn(os.path.join(args.out, "stamps.json"), args.messages))
        else:
            sink = _DirectSinkFn if args.mode == DIRECT else _BundleSinkFn
            _ = (messages
                 | "Throttle" >> beam.ParDo(_ThrottleFn(os.path.join(args.out, "progress"),
                                                        args.rate))
                 | "Sink" >> beam.ParDo(sink(os.path.join(args.out, "delivered.txt"))))
    print(json.dumps({"t0": t0, "t_end": time.time()}), flush=True)


if __name__ == "__main__":
    main()
