"""Installing what a local Flink session cluster needs, idempotently, into ``.local/``.

* Flink 1.19.0 itself: PyPI's ``apache-flink-libraries`` sdist (``pip download --no-deps``) holds
  Flink's ``lib/``, ``plugins/`` and ``bin/bash-java-utils.jar`` (but no shell scripts or
  ``conf/``); it is unpacked into ``.local/flink/dist``.
* Sensory's Beam runtime jar (``flink/runtime/pom.xml``): one shaded jar that is the Beam 2.62.0
  Flink runner (job server / uber-jar base), the Java expansion service and KafkaIO for the
  EMBEDDED Java harness. Built with Maven into ``.local/flink-runtime/``.

Both steps are skipped when their output exists; the downloads stay in ``.local/cache`` and
``~/.m2`` so a rebuild needs no network.
"""
import shutil
import sys
import tarfile
import time
from pathlib import Path
from typing import Callable

from sensory.stack import process

FLINK_VERSION = "1.19.0"
BEAM_JAVA_VERSION = "2.62.0"
RUNTIME_JAR_NAME = f"sensory-beam-flink-runtime-{BEAM_JAVA_VERSION}-1.19.jar"
_SDIST = f"apache-flink-libraries-{FLINK_VERSION}"
# Only what a session cluster uses: the other plugins (GPU, Datadog, ...) would be loaded too.
_PLUGINS = ("metrics-prometheus",)


def repo_root() -> Path:
    """The checkout holding ``flink/runtime/pom.xml`` (this package's source tree)."""
    here = Path(__file__).resolve().parent
    for folder in (here, *here.parents):
        if (folder / "flink" / "runtime" / "pom.xml").exists():
            return folder
    raise process.StackError("flink/runtime/pom.xml not found next to the sensory sources")


def flink_dist(local: Path) -> Path:
    """Where Flink's ``lib/``, ``plugins/`` and ``bin/`` are unpacked."""
    return local / "flink" / "dist"


def runtime_jar(local: Path) -> Path:
    """The shaded Beam runtime jar."""
    return local / "flink-runtime" / RUNTIME_JAR_NAME


def flink_installed(local: Path) -> bool:
    """Whether Flink is unpacked."""
    return (flink_dist(local) / "lib" / f"flink-dist-{FLINK_VERSION}.jar").exists()


def install_flink(local: Path, log_file: Path, progress: Callable[[str], None]) -> None:
    """Downloads the sdist (once) and unpacks lib, plugins and bin into ``flink/dist``."""
    if flink_installed(local):
        return
    cache = local / "cache" / "pip"
    sdist = cache / f"{_SDIST}.tar.gz"
    if not sdist.exists():
        progress(f"flink: downloading {_SDIST} from PyPI (~230 MB) ...")
        began = time.monotonic()
        process.run_checked([sys.executable, "-m", "pip", "download", "--no-deps",
                             "--no-binary", ":all:", f"apache-flink-libraries=={FLINK_VERSION}",
                             "-d", str(cache)], what="downloading Flink", log_file=log_file)
        progress(f"flink: downloaded in {time.monotonic() - began:.0f} s")
    dist = flink_dist(local)
    staging = dist.with_name("dist.partial")
    shutil.rmtree(staging, ignore_errors=True)
    prefix = f"{_SDIST}/deps/"
    wanted = ("lib/", "bin/", *(f"plugins/{name}/" for name in _PLUGINS))
    with tarfile.open(sdist) as archive:
        members = []
        for member in archive.getmembers():
            if not member.name.startswith(prefix) or not member.isfile():
                continue
            relative = member.name[len(prefix):]
            if relative.startswith(wanted):
                member.name = relative
                members.append(member)
        archive.extractall(staging, members=members, filter="data")
    shutil.rmtree(dist, ignore_errors=True)
    staging.rename(dist)


def runtime_installed(local: Path) -> bool:
    """Whether the shaded runtime jar is built."""
    return runtime_jar(local).exists()


def build_runtime(local: Path, log_file: Path, progress: Callable[[str], None]) -> None:
    """Builds the shaded runtime jar with Maven (``flink/runtime/pom.xml``)."""
    if runtime_installed(local):
        return
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise process.StackError("flink needs java (17) and mvn on PATH")
    build_dir = local / "flink-runtime" / "build"
    build_dir.mkdir(parents=True, exist_ok=True)
    pom = repo_root() / "flink" / "runtime" / "pom.xml"
    progress(f"flink: building the Beam {BEAM_JAVA_VERSION} runtime jar with Maven "
             "(first time: ~300 MB of downloads) ...")
    began = time.monotonic()
    process.run_checked(["mvn", "-B", "-q", "-f", str(pom), "package", "-DskipTests",
                         f"-Dsensory.build.dir={build_dir}"],
                        what="building the Beam Flink runtime jar", log_file=log_file,
                        timeout_s=3600)
    built = build_dir / RUNTIME_JAR_NAME
    if not built.exists():
        raise process.StackError(f"Maven finished but {built} is missing; see {log_file}")
    shutil.move(str(built), runtime_jar(local))
    shutil.rmtree(build_dir, ignore_errors=True)
    progress(f"flink: runtime jar built in {time.monotonic() - began:.0f} s")
