"""The yardstick: Kafka → social pipeline → Snowflake + Weaviate, bounded, against raw ``encode``.

In one run, on the local stack (``sensory stack up`` first):

1. For each mode (``embeddings``: all stages and both sinks; ``plain``: ``--no_embeddings
   --sinks=snowflake``) and each of two sizes, produce N sample posts to a fresh topic and run
   ``python -m sensory.pipelines.social --topics=T --read_until_end`` as a subprocess, timing it
   from launch to exit. The marginal rate is ``(N2 - N1) / (t2 - t1)`` (start-up cancels); the
   start-up time is the intercept ``t1 - N1 / rate``.
2. Raw ``model.encode`` (the pipelines' ``--backend``, default onnx; the whole list in one
   call, in sub-batches of the pipeline's default ``--embedding_encode_batch_size``) over
   exactly the texts the pipeline embeds (the valid records' shielded, categorised embedding
   texts, duplicates included),
   measured before and after the embedding runs; the ratio divides the pipeline's rate in valid
   records per second by the mean of the two.

Texts: the sample generator's posts made unique per run, then a stated fraction
(``--duplicate_rate``) of records copy the content of an earlier record (reposts, templated
posts). The measured share of valid records whose text repeats an earlier one is printed.

``--baseline PYTHON`` runs every pipeline a second time with another interpreter (e.g. a
checkout of ``main`` with its own venv), interleaved with this checkout's runs, so before/after
ratios come from one run of the machine. ``uptime`` is printed with the figures.

Each run also records the CPU seconds of the pipeline process (its user + system time) and of
the local stack's services (the processes of ``.local/*/*.pid``: Kafka, the Snowflake emulator,
Weaviate, ...). The marginal CPU per message says how fast the pipeline could go with one core
to itself: its Python work holds one interpreter lock, so that is about its ceiling.

The shared host's speed moves, so each mode is framed by a stage probe: the pipeline's
validation, shield and context timed in this process over a fixed set of sample lines, before
and after the runs. The pipeline's CPU per message over the probe is a cost that does not
depend on how fast the host was at that moment.

Usage: python bench/e2e.py [--sizes 1000,3000] [--plain_sizes 5000,50000]
       [--duplicate_rate 0.3] [--modes embeddings,plain] [--baseline PYTHON]
       [--pipeline_args="--opt=value ..."] [--repeats 1] [--also_nocache]
"""
import argparse
import hashlib
import json
import os
import random
import re
import resource
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import NamedTuple

from confluent_kafka import Producer

from sensory import endpoints, stack_secrets
from sensory.io.kafka_admin import ensure_topics
from sensory.io.kafka_write import producer_config
from sensory.samples import sample_lines
from sensory.topics import TOPICS, TopicSpec
from sensory.transforms.embeddings_model import BACKENDS, DEFAULT_BACKEND, \
    default_encode_batch_size

PARTITIONS = 6
MODES = {
    "embeddings": ["--sinks=snowflake,weaviate"],
    "plain": ["--no_embeddings", "--sinks=snowflake"],
}



def pipeline_env() -> dict[str, str]:
    """The environment of a pipeline run: it runs outside the checkout (so a baseline's
    interpreter imports its own code), so it is told where the stack's secrets are."""
    return {**os.environ, "SENSORY_LOCAL_DIR": str(stack_secrets.local_dir())}

def _letters(value) -> str:
    """``value`` spelt in letters: unique, and no digit for the shield to look at."""
    return str(value).translate(str.maketrans("0123456789", "abcdefghij"))


# Words of one token each for the model's tokenizer, none of them a product keyword.
_SALT_WORDS = ("alpha", "beta", "gamma", "delta", "theta", "kappa", "sigma", "omega", "river",
               "stone", "cloud", "forest", "valley", "meadow", "harbor", "canyon")


def salt_words(salt: str) -> str:
    """Eight words (one token each) naming ``salt``: 16**8 ways, so runs do not share texts.

    The salt itself, spelt in letters, became 6 to 11 word pieces depending on its letters, so
    the texts of two runs differed by up to 5 tokens (~20 %) each, and the raw encode's texts
    from the runs' (thirteenth session): a bias of several per cent in every ratio.
    """
    digest = hashlib.sha256(salt.encode("utf-8")).digest()[:4]
    return " ".join(_SALT_WORDS[nibble] for byte in digest for nibble in (byte >> 4, byte & 15))


def make_lines(count: int, duplicate_rate: float, salt: str, seed: int = 11) -> list[str]:
    """Sample posts with unique ids and texts, a ``duplicate_rate`` share of them reposts."""
    rng = random.Random(seed)
    contents: list[tuple[str, list]] = []
    out = []
    for index, line in enumerate(sample_lines("social", count, seed=seed)):
        try:
            record = json.loads(line)
        except ValueError:
            out.append(line)  # a deliberately broken line stays broken
            continue
        if not isinstance(record, dict):
            out.append(line)
            continue
        record["post_id"] = f"e2e-{salt}-{index}"
        if contents and rng.random() < duplicate_rate:
            record["content"], record["hashtags"] = rng.choice(contents)
        elif isinstance(record.get("content"), str):
            # A word that makes the text unique without looking like a number to the shield.
            record["content"] += f" lot {salt_words(salt)} {_letters(index)}"
            contents.append((record["content"], record.get("hashtags", [])))
        out.append(json.dumps(record, ensure_ascii=False))
    return out


def produce(bootstrap: str, topic: str, lines: list[str]) -> None:
    producer = Producer(producer_config(bootstrap))
    for line in lines:
        while True:
            try:
                producer.produce(topic, value=line.encode("utf-8"))
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(120):
        raise RuntimeError("messages left unacknowledged")


def pipeline_texts(lines: list[str]) -> list[str]:
    """What the pipeline embeds for these lines: valid records, shielded, with category."""
    # pylint: disable=import-outside-toplevel,protected-access
    from sensory.models import RECORD_MODELS, RECORD_TYPE_KEY
    from sensory.transforms.context import _ContextFn, load_category_table
    from sensory.transforms.embeddings import embedding_text
    from sensory.transforms.pii import _ShieldFn
    from sensory.transforms.validate import _Rejected, parse_record
    shield, context = _ShieldFn(None), _ContextFn(load_category_table())
    shield.setup()
    context.setup()
    texts = []
    for line in lines:
        try:
            record = parse_record(line, RECORD_MODELS["social"])
        except _Rejected:
            continue
        record[RECORD_TYPE_KEY] = "social"
        texts.append(embedding_text(context.transform_record(shield.transform_record(record))))
    return texts


def stage_probe(count: int = 4000) -> float:
    """CPU seconds per message of the pipeline's validation, shield and context, run in this
    process over a fixed set of sample lines.

    It says how fast the host's cores are at the moment: the shared host's speed moved by ~40 %
    within an hour (docs/performance.md), and the plain rate moves with it. A run's CPU per
    message over this probe is a cost that does not depend on that moment.
    """
    lines = make_lines(count, 0.3, "probe")
    pipeline_texts(lines[:200])  # imports, set-up and the category table, not timed
    started = time.process_time()
    pipeline_texts(lines)
    return (time.process_time() - started) / count


def raw_encode_rate(model, texts: list[str], batch_size: int) -> tuple[float, float]:
    """Encodes ``texts`` once, in one call (sorted by length as a whole) of sub-batches of
    ``batch_size``, on a quiet stack; returns texts per wall second and CPU seconds per text,
    and prints what the stack's services used meanwhile."""
    # A warm-up over a spread of lengths: the allocator grows for the longest shapes here.
    model.encode(texts[:512], batch_size=64)
    waited = wait_for_quiet_services()
    services_before = services_cpu()
    started, cpu_started = time.perf_counter(), time.process_time()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    cpu = time.process_time() - cpu_started
    wall = time.perf_counter() - started
    print(f"raw encode: waited {waited:.0f} s for the services to go quiet; they used "
          f"{(services_cpu() - services_before) / wall:.0%} of a core during it", flush=True)
    return len(texts) / wall, cpu / len(texts)


def wait_for_quiet_services(limit_s: float = 90.0, share: float = 0.05) -> float:
    """Waits (at most ``limit_s``) until the stack's services use under ``share`` of a core
    over a second: after a run, Weaviate and Kafka go on working (index clean-up, log
    flushes) for a while, and the raw encode is the reference the runs are divided by."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        before = services_cpu()
        time.sleep(1.0)
        if services_cpu() - before < share:
            break
    return time.perf_counter() - started


# Topics and consumer groups this run created, deleted at its end: left behind they pile up
# (hundreds after a few runs) and every scrape of the lag exporter asks the broker about each.
_CREATED_TOPICS: list[str] = []
_CREATED_GROUPS: list[str] = []


class Run(NamedTuple):
    """One pipeline run: wall seconds, CPU seconds of the pipeline process and of the local
    stack's services during the run, and the run's output."""

    wall: float
    cpu: float
    services_cpu: float
    output: str
    by_service: dict[str, float]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def services_cpu_by_name() -> dict[str, float]:
    """CPU seconds used so far by each of the stack's services (``.local/*/*.pid``)."""
    from sensory.stack.config import local_dir  # pylint: disable=import-outside-toplevel
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid_file in local_dir().glob("*/*.pid"):
        try:
            fields = Path(f"/proc/{int(pid_file.read_text().strip())}/stat").read_text()
        except (OSError, ValueError):
            continue  # not running
        # utime and stime are fields 14 and 15; the command name before them may hold spaces.
        utime, stime = fields.rpartition(")")[2].split()[11:13]
        out[pid_file.parent.name] = out.get(pid_file.parent.name, 0.0) + \
            (int(utime) + int(stime)) / ticks
    return out


def services_cpu() -> float:
    """CPU seconds used so far by the stack's services, together."""
    return sum(services_cpu_by_name().values())


def run_pipeline(python: str, topic: str, mode: str, extra: list[str]) -> Run:
    """Runs the social pipeline bounded on ``topic``, measuring its wall and CPU time."""
    group = f"e2e-{uuid.uuid4().hex[:8]}"
    _CREATED_GROUPS.append(group)
    argv = [python, "-m", "sensory.pipelines.social", f"--topics={topic}",
            f"--consumer_group={group}", "--read_until_end",
            *MODES[mode], *extra]
    cpu_before, services_before = _children_cpu(), services_cpu_by_name()
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd="/tmp", env=pipeline_env(),
                          check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"pipeline failed ({done.returncode}): {' '.join(argv)}")
    services_after = services_cpu_by_name()
    by_service = {name: used - services_before.get(name, 0.0)
                  for name, used in services_after.items()}
    return Run(wall, _children_cpu() - cpu_before, sum(by_service.values()),
               done.stdout + done.stderr, by_service)


def _median(runs: list[Run], field: str) -> float:
    values = sorted(getattr(run, field) for run in runs)
    return values[len(values) // 2]


def sink_ok(output: str) -> int:
    match = re.search(r"snowflake_sink\s+received=\d+ ok=(\d+)", output)
    return int(match.group(1)) if match else -1


def cache_counts(output: str) -> dict[str, int]:
    """The run's ``sensory.embedding_cache`` counters, from its summary."""
    match = re.search(r"embedding_cache\s+(.*)", output)
    return {name: int(value) for name, value in re.findall(r"(\w+)=(\d+)", match.group(1))} \
        if match else {}


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def cleanup(salt_prefix: str) -> None:
    """Deletes the rows, objects, topics and consumer groups this run made (best effort)."""
    # pylint: disable=import-outside-toplevel
    try:
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": endpoints.kafka_bootstrap()})
        futures = {}
        if _CREATED_GROUPS:
            futures.update(admin.delete_consumer_groups(_CREATED_GROUPS, request_timeout=60))
        if _CREATED_TOPICS:
            futures.update(admin.delete_topics(_CREATED_TOPICS, operation_timeout=60))
        for future in futures.values():
            future.result()
    except Exception as err:  # pylint: disable=broad-except
        print(f"cleanup kafka: {type(err).__name__}: {err}")
    try:
        from sensory.io.snowflake_conn import SnowflakeSettings, connect
        conn = connect(SnowflakeSettings.from_env())
        conn.cursor().execute("DELETE FROM SOCIAL_POSTS WHERE POST_ID LIKE %s",
                              (f"e2e-{salt_prefix}%",))
        conn.close()
    except Exception as err:  # pylint: disable=broad-except
        print(f"cleanup snowflake: {type(err).__name__}: {err}")
    try:
        from weaviate.classes.query import Filter

        from sensory.io.weaviate import WeaviateSettings, connect as weaviate_connect
        with weaviate_connect(WeaviateSettings.from_env()) as client:
            if client.collections.exists("SocialPost"):
                collection = client.collections.get("SocialPost")
                benches = collection.aggregate.over_all(
                    filters=Filter.by_property("post_id").like("e2e-*"),
                    total_count=True).total_count
                if benches == len(collection):
                    # Nothing but bench objects: drop the collection (the sink recreates it).
                    # Deleted objects stay in the HNSW graph as tombstones and made later
                    # imports up to 8x dearer (docs/performance-history.md, eleventh session).
                    client.collections.delete("SocialPost")
                else:
                    # One delete_many removes at most 10,000 objects (QUERY_MAXIMUM_RESULTS).
                    while collection.data.delete_many(where=Filter.by_property("post_id").like(
                            f"e2e-{salt_prefix}*")).successful:
                        pass
    except Exception as err:  # pylint: disable=broad-except
        print(f"cleanup weaviate: {type(err).__name__}: {err}")


def service_threads() -> list[int]:
    """Thread ids of the stack's services (``.local/*/*.pid``), every thread of each."""
    from sensory.stack.config import local_dir  # pylint: disable=import-outside-toplevel
    tids = []
    for pid_file in local_dir().glob("*/*.pid"):
        try:
            tids += [int(t) for t in os.listdir(f"/proc/{int(pid_file.read_text().strip())}/task")]
        except (OSError, ValueError):
            continue  # not running
    return tids


def pin(worker_cpus: set[int]) -> dict[int, set[int]]:
    """Puts this process (so the pipeline runs and the raw encode) on ``worker_cpus`` and the
    stack's services on the other CPUs: a worker whose services run elsewhere. Returns the
    services' threads' former affinities for ``unpin``."""
    others = set(os.sched_getaffinity(0)) - worker_cpus
    if not worker_cpus or not others:
        raise SystemExit(f"--worker_cpus must name some but not all of the CPUs "
                         f"{sorted(os.sched_getaffinity(0))}")
    saved = {}
    for tid in service_threads():
        try:
            saved[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, others)
        except OSError:
            continue  # the thread ended meanwhile
    os.sched_setaffinity(0, worker_cpus)
    print(f"pinned: pipeline runs and raw encode on CPUs {sorted(worker_cpus)}, the services' "
          f"{len(saved)} threads on CPUs {sorted(others)}")
    return saved


def unpin(saved: dict[int, set[int]]) -> None:
    """Gives the services' threads their former CPUs back (threads started since: all CPUs)."""
    every = set(range(os.cpu_count() or 1))
    for tid in service_threads():
        try:
            os.sched_setaffinity(tid, saved.get(tid, every))
        except OSError:
            continue


def weaviate_store(fresh: bool) -> None:
    """Prints the SocialPost collection's live objects and the data folder's size; ``fresh``
    deletes the collection first (the sink recreates it).

    Benchmarks delete what they write, and HNSW keeps deleted objects as tombstones until its
    periodic clean-up: after ~35,000 objects written and deleted, imports took 4x longer and
    Weaviate took the cores from the model (docs/performance.md). A data folder far larger than
    the live objects explain is that state.
    """
    from sensory.io.weaviate import WeaviateSettings, connect as weaviate_connect  # pylint: disable=import-outside-toplevel
    from sensory.stack.config import local_dir  # pylint: disable=import-outside-toplevel
    with weaviate_connect(WeaviateSettings.from_env()) as client:
        exists = client.collections.exists("SocialPost")
        if fresh and exists:
            client.collections.delete("SocialPost")
            print("weaviate: deleted the SocialPost collection (--fresh_weaviate)")
            exists = False
        live = len(client.collections.get("SocialPost")) if exists else 0
    data = local_dir() / "weaviate" / "data"
    size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file()) if data.exists() else 0
    print(f"weaviate store: {live} live SocialPost objects, data folder {size / 1e6:.0f} MB "
          f"(~{size / max(live, 1) / 1e3:.0f} kB per live object)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,3000", help="two sizes, embeddings mode")
    # 50,000, not 25,000: a run's end (its last loads, the offset commits) varies by ~0.5 s, a
    # quarter of what 20,000 more messages take at 10,000 msg/s (docs/performance.md).
    parser.add_argument("--plain_sizes", default="5000,50000", help="two sizes, plain mode")
    parser.add_argument("--duplicate_rate", type=float, default=0.3)
    parser.add_argument("--modes", default="embeddings,plain")
    parser.add_argument("--baseline", default=None, help="python of another checkout")
    parser.add_argument("--pipeline_args", default="", help="extra args for this checkout")
    parser.add_argument("--baseline_args", default="", help="extra args for the baseline")
    parser.add_argument("--also_nocache", action="store_true",
                        help="also run this checkout with --no_embedding_cache")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=ARGS",
                        help="also run this checkout with these extra pipeline args "
                             "(repeatable), e.g. --variant 't1=--embedding_threads=1'")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKENDS,
                        help="model backend of the pipelines and of the raw encode they are "
                             "compared with")
    parser.add_argument("--fresh_weaviate", action="store_true",
                        help="delete the SocialPost collection (all its objects) before "
                             "measuring; benches' deleted objects slow later imports")
    parser.add_argument("--raw_batch_size", type=int, default=None,
                        help="sub-batch of the raw encode the runs are compared with; default: "
                             "the pipeline's default --embedding_encode_batch_size for --backend")
    parser.add_argument("--worker_cpus", default=None,
                        help="comma-separated CPUs for the pipeline runs and the raw encode; "
                             "the stack's services get the other CPUs meanwhile (a worker "
                             "whose services run elsewhere). Default: no pinning")
    args = parser.parse_args()
    saved_affinity = pin({int(c) for c in args.worker_cpus.split(",")}) \
        if args.worker_cpus else None
    try:
        _measure(args)
    finally:
        if saved_affinity is not None:
            unpin(saved_affinity)


def _measure(args: argparse.Namespace) -> None:
    """Everything ``main`` does once the options are read and CPUs pinned."""
    if args.raw_batch_size is None:
        args.raw_batch_size = default_encode_batch_size(args.backend, "cpu")
    os.environ.setdefault("SENSORY_PII_KEY", secrets.token_hex(32))
    bootstrap = endpoints.kafka_bootstrap()
    ensure_topics(bootstrap, TOPICS)
    run_salt = uuid.uuid4().hex[:6]
    backend_arg = [f"--embedding_backend={args.backend}"]
    variants = [("this", sys.executable, args.pipeline_args.split() + backend_arg)]
    if args.also_nocache:
        variants.append(("nocache", sys.executable,
                         args.pipeline_args.split() + backend_arg + ["--no_embedding_cache"]))
    for spec in args.variant:
        name, _, extra = spec.partition("=")
        variants.append((name, sys.executable,
                         args.pipeline_args.split() + backend_arg + extra.split()))
    if args.baseline:
        variants.append(("baseline", args.baseline, args.baseline_args.split()))
    print(f"load before: {uptime()}")
    if "embeddings" in args.modes.split(","):
        weaviate_store(args.fresh_weaviate)
    model = None
    results = {}
    for mode in args.modes.split(","):
        sizes = [int(n) for n in (args.sizes if mode == "embeddings" else
                                  args.plain_sizes).split(",")]
        texts = None
        encode_rates = []
        probes = [stage_probe()]
        if mode == "embeddings":
            from sensory.transforms.embeddings_model import load_encoder  # pylint: disable=import-outside-toplevel
            model = model or load_encoder(None, args.backend, "cpu")
            # The very texts of this checkout's largest run (same salt, so same lengths).
            probe_salt = f"{run_salt}{mode[0]}0v0n{sizes[-1]}"
            texts = pipeline_texts(make_lines(sizes[-1], args.duplicate_rate, probe_salt))
            encode_rates.append(raw_encode_rate(model, texts, args.raw_batch_size))
        for repeat in range(args.repeats):
            for size in sizes:
                for index, (name, python, extra) in enumerate(variants):
                    salt = f"{run_salt}{mode[0]}{repeat}v{index}n{size}"
                    lines = make_lines(size, args.duplicate_rate, salt)
                    topic = f"bench-e2e-{salt}"
                    ensure_topics(bootstrap, {topic: TopicSpec(PARTITIONS, 1)})
                    _CREATED_TOPICS.append(topic)
                    produce(bootstrap, topic, lines)
                    run = run_pipeline(python, topic, mode, extra)
                    written = sink_ok(run.output)
                    cache = cache_counts(run.output)
                    if cache:
                        served = cache.get("hits", 0) + cache.get("batch_duplicates", 0)
                        looked = served + cache.get("misses", 0)
                        cache_note = (f", cache hit rate {served / max(looked, 1):.3f} "
                                      f"({cache})")
                    else:
                        cache_note = ""
                    results.setdefault((mode, name), {}).setdefault(size, []).append(run)
                    print(f"{mode:10s} {name:8s} n={size:6d} wall {run.wall:6.2f} s, "
                          f"cpu {run.cpu:6.2f} s (services {run.services_cpu:5.2f} s), "
                          f"snowflake ok={written}{cache_note}  | {uptime()}", flush=True)
        if mode == "embeddings":
            encode_rates.append(raw_encode_rate(model, texts, args.raw_batch_size))
            distinct = len(set(texts))
            print(f"texts: {len(texts)} valid of {sizes[-1]} messages, {distinct} distinct "
                  f"(repeat share {1 - distinct / len(texts):.3f})")
            print(f"raw model.encode [{args.backend}] of those texts: "
                  f"{' / '.join(f'{r:.1f}' for r, _ in encode_rates)} rec/s, CPU "
                  f"{' / '.join(f'{c * 1e3:.2f}' for _, c in encode_rates)} ms per text "
                  f"(before / after; sub-batches of {args.raw_batch_size})")
        probes.append(stage_probe())
        print(f"stage probe (validation, shield and context in this process): "
              f"{probes[0] * 1e6:.1f} / {probes[1] * 1e6:.1f} us CPU per message (before / after)")
        probe = sum(probes) / len(probes)
        valid_share = len(pipeline_texts(make_lines(sizes[-1], args.duplicate_rate, "share"))) \
            / sizes[-1]
        for name, _python, _extra in variants:
            runs = results[(mode, name)]
            small, large = sizes
            t_small, t_large = _median(runs[small], "wall"), _median(runs[large], "wall")
            rate = (large - small) / max(t_large - t_small, 1e-9)
            startup = t_small - small / rate
            line = (f"{mode:10s} {name:8s} marginal {rate:8.1f} msg/s "
                    f"({rate * valid_share:8.1f} valid rec/s), start-up {startup:5.1f} s")
            if encode_rates:
                raw = sum(r for r, _ in encode_rates) / len(encode_rates)
                line += f", ratio to raw encode per valid record {rate * valid_share / raw:.3f}"
            print(line)
            # Marginal CPU per message: what the rate could be if the pipeline process had a
            # core to itself (its Python work holds one GIL), and what the services add.
            cpu = (_median(runs[large], "cpu") - _median(runs[small], "cpu")) / (large - small)
            services = (_median(runs[large], "services_cpu")
                        - _median(runs[small], "services_cpu")) / (large - small)
            # And the ceiling of the whole machine: every core busy with this run's work.
            cores = os.cpu_count() or 1
            print(f"{mode:10s} {name:8s} marginal CPU per message: pipeline process "
                  f"{cpu * 1e6:7.1f} us (one core's worth: {1 / max(cpu, 1e-9):8.0f} msg/s), "
                  f"stack services {services * 1e6:6.1f} us (all {cores} cores' worth of "
                  f"both: {cores / max(cpu + services, 1e-9):8.0f} msg/s)")
            print(f"{mode:10s} {name:8s} pipeline CPU per message over the stage probe: "
                  f"{cpu / max(probe, 1e-12):.2f}x")
            # Each service's marginal share: which one takes the cores from the pipeline.
            names = sorted({n for run in runs[large] + runs[small] for n in run.by_service})
            shares = {n: (sorted(r.by_service.get(n, 0.0) for r in runs[large])[
                len(runs[large]) // 2] - sorted(r.by_service.get(n, 0.0) for r in runs[small])[
                    len(runs[small]) // 2]) / (large - small) for n in names}
            print(f"{mode:10s} {name:8s} services per message: " + ", ".join(
                f"{n} {v * 1e6:.0f} us" for n, v in sorted(shares.items(), key=lambda kv: -kv[1])
                if abs(v) >= 5e-6))
            if encode_rates:
                # The ratio the run would reach if it kept the cores as busy as the raw encode
                # does: raw CPU per text over the run's CPU per valid record, both measured.
                raw_cpu = sum(c for _, c in encode_rates) / len(encode_rates)
                print(f"{mode:10s} {name:8s} CPU ratio (raw encode CPU per text / run CPU per "
                      f"valid record): {raw_cpu * valid_share / max(cpu + services, 1e-9):.3f}")
    print(f"load after: {uptime()}")
    cleanup(run_salt)


if __name__ == "__main__":
    main()
