"""A local Flink 1.19 session cluster for Beam jobs (``sensory stack up --flink``).

Four processes, each with its own pid file and log under ``.local/flink/``:

* the JobManager (``StandaloneSessionClusterEntrypoint``) and one TaskManager with 2 slots,
  started with ``java`` directly: the PyPI sdist has no ``bin/*.sh``, so the memory arguments the
  scripts would compute come from Flink's own ``BashJavaUtils``;
* the Beam Python worker pool that runs the Python stages (EXTERNAL environment), started with
  this interpreter so workers import the same venv (and ``sensory``);
* the Java expansion service (from the shaded runtime jar) that expands the cross-language
  ``ReadFromKafka`` with KafkaIO's legacy unbounded source (``use_deprecated_read``).

Jobs are submitted by FlinkRunner in uber-jar mode (``--flink_submit_uber_jar``): no job server
process; each job jar is deleted by the client when the job ends.
"""
import json
import os
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Optional

from sensory.stack import config, flink_build, process
from sensory.stack.service import Service

_JAVA_17_OPTS = (
    "-XX:+IgnoreUnrecognizedVMOptions",
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED", "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.text=ALL-UNNAMED", "--add-opens=java.base/java.time=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
)

_CONFIG = """# Written by sensory.stack.flink at every start; edit the code, not this file.
jobmanager.rpc.address: {host}
jobmanager.rpc.port: {rpc_port}
jobmanager.bind-host: {host}
jobmanager.memory.process.size: 1024m
rest.address: {host}
rest.bind-address: {host}
rest.port: {rest_port}
blob.server.port: {blob_port}
taskmanager.host: {host}
taskmanager.bind-host: {host}
taskmanager.rpc.port: {tm_rpc_port}
taskmanager.data.port: {tm_data_port}
taskmanager.numberOfTaskSlots: 2
# The machine is shared: 2 GB for the whole TaskManager process. Beam keeps state on the heap,
# so little managed memory; per-job class loaders need a large metaspace (256m ran out after
# ~5 submissions).
taskmanager.memory.process.size: 2048m
taskmanager.memory.jvm-metaspace.size: 1024m
taskmanager.memory.managed.fraction: 0.05
# Batch jobs shuffle through sort-merge partitions that want 512 buffers each by default.
taskmanager.memory.network.min: 160m
taskmanager.memory.network.max: 160m
taskmanager.network.sort-shuffle.min-buffers: 64
parallelism.default: 1
io.tmp.dirs: {home}/tmp
web.upload.dir: {home}/web
web.tmpdir: {home}/web-tmp
state.checkpoints.dir: file://{home}/checkpoints
state.savepoints.dir: file://{home}/savepoints
state.checkpoints.num-retained: 2
# A killed TaskManager is noticed within seconds and the job restarted from its last checkpoint.
heartbeat.interval: 2000
heartbeat.timeout: 10000
restart-strategy.type: fixed-delay
restart-strategy.fixed-delay.attempts: 30
restart-strategy.fixed-delay.delay: 5 s
# Unreferenced job jars leave the TaskManager's blob cache after 60 s (default: 1 h).
blob.service.cleanup.interval: 60
classloader.check-leaked-classloader: false
metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory
"""

_LOG4J = """rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss,SSS} %-5p %-60c %x - %m%n
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
"""

_RESULT_PREFIX = "BASH_JAVA_UTILS_EXEC_RESULT:"


class FlinkService(Service):
    """JobManager + TaskManager + Beam worker pool + Java expansion service on 127.0.0.1."""

    name = "flink"
    start_timeout_s = 120.0
    components = ("jobmanager", "taskmanager", "worker_pool", "expansion")

    def __init__(self, local: Path):
        super().__init__(local)
        self._local = local
        self.pid_file = self._pid_file("jobmanager")
        self.log_file = self._log_file("jobmanager")

    def _pid_file(self, component: str) -> Path:
        return self.home / f"{component}.pid"

    def _log_file(self, component: str) -> Path:
        return self.home / "log" / f"{component}.log"

    @property
    def address(self) -> str:
        return f"{config.HOST}:{config.FLINK_REST_PORT}"

    @property
    def conf_dir(self) -> Path:
        """The generated Flink configuration folder."""
        return self.home / "conf"

    def installed(self) -> bool:
        return (flink_build.flink_installed(self._local)
                and flink_build.runtime_installed(self._local))

    def install(self, progress=None) -> None:
        say = progress or (lambda line: None)
        log = self.home / "install.log"
        flink_build.install_flink(self._local, log, say)
        flink_build.build_runtime(self._local, log, say)

    def component_pid(self, component: str) -> Optional[int]:
        """The pid of one component (``jobmanager``, ``taskmanager``, ...) if it runs."""
        return process.read_pid(self._pid_file(component))

    def _write_config(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for folder in ("tmp", "web", "web-tmp", "checkpoints", "savepoints", "log"):
            (self.home / folder).mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "config.yaml").write_text(_CONFIG.format(
            host=config.HOST, home=self.home, rpc_port=config.FLINK_RPC_PORT,
            rest_port=config.FLINK_REST_PORT, blob_port=config.FLINK_BLOB_PORT,
            tm_rpc_port=config.FLINK_TM_RPC_PORT, tm_data_port=config.FLINK_TM_DATA_PORT))
        (self.conf_dir / "log4j.properties").write_text(_LOG4J)

    def _classpath(self) -> str:
        dist = flink_build.flink_dist(self._local)
        return f"{dist / 'lib'}/*"

    def _resource_params(self, command: str) -> tuple[list[str], list[str]]:
        """JVM and ``-D`` arguments Flink's scripts would compute (``BashJavaUtils``)."""
        dist = flink_build.flink_dist(self._local)
        out = self.home / "log" / "bash-java-utils.out"
        process.run_checked(
            ["java", "-cp", f"{dist / 'bin' / 'bash-java-utils.jar'}:{self._classpath()}",
             "org.apache.flink.runtime.util.bash.BashJavaUtils", command,
             "--configDir", str(self.conf_dir)],
            what=f"computing Flink memory settings ({command})", log_file=out)
        results = [line[len(_RESULT_PREFIX):].strip() for line in
                   out.read_text().splitlines() if line.startswith(_RESULT_PREFIX)]
        out.unlink()
        if not results:
            raise process.StackError(f"BashJavaUtils {command} printed no result")
        jvm = results[-2].split() if len(results) >= 2 else results[0].split()
        dynamic = results[-1].split() if len(results) >= 2 else []
        return jvm, dynamic

    def _java(self, component: str, jvm: list[str], main: str, args: list[str]) -> None:
        log = self._log_file(component)
        command = ["java", *jvm, *_JAVA_17_OPTS,
                   f"-Dlog.file={log}",
                   f"-Dlog4j.configurationFile=file:{self.conf_dir / 'log4j.properties'}",
                   "-cp", self._classpath(), main, *args]
        dist = flink_build.flink_dist(self._local)
        process.start(command, pid_file=self._pid_file(component), log_file=log, cwd=self.home,
                      env={"FLINK_PLUGINS_DIR": str(dist / "plugins"),
                           "FLINK_CONF_DIR": str(self.conf_dir)})

    def start_jobmanager(self) -> None:
        """Starts the JobManager (REST, scheduler, blob server)."""
        jvm, dynamic = self._resource_params("GET_JM_RESOURCE_PARAMS")
        # Jars of jobs whose client died stay in the upload dir: a fresh JobManager drops them.
        shutil.rmtree(self.home / "web", ignore_errors=True)
        (self.home / "web").mkdir()
        self._java("jobmanager", jvm,
                   "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
                   ["--configDir", str(self.conf_dir), "--executionMode", "cluster",
                    *dynamic, "-D", f"metrics.reporter.prom.port={config.FLINK_JM_METRICS_PORT}"])

    def start_taskmanager(self) -> None:
        """Starts the TaskManager (2 slots); tests call it again after killing one."""
        # A killed TaskManager leaves its blob cache (~400 MB per job jar) behind.
        for stale in (self.home / "tmp").glob("tm_*"):
            shutil.rmtree(stale, ignore_errors=True)
        jvm, dynamic = self._resource_params("GET_TM_RESOURCE_PARAMS")
        self._java("taskmanager", jvm,
                   "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
                   ["--configDir", str(self.conf_dir), *dynamic,
                    "-D", f"metrics.reporter.prom.port={config.FLINK_TM_METRICS_PORT}"])

    def _start_worker_pool(self) -> None:
        # Workers are started as plain `python` from PATH: put this interpreter's folder first.
        bin_dir = str(Path(sys.executable).parent)
        env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
        process.start([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                       f"--service_port={config.WORKER_POOL_PORT}"],
                      pid_file=self._pid_file("worker_pool"),
                      log_file=self._log_file("worker_pool"), env=env, cwd=self.home)

    def _start_expansion_service(self) -> None:
        jar = flink_build.runtime_jar(self._local)
        process.start(["java", "-Xmx384m", "-cp", str(jar),
                       "org.apache.beam.sdk.expansion.service.ExpansionService",
                       str(config.EXPANSION_PORT), "--defaultEnvironmentType=EMBEDDED",
                       # KafkaIO's SDF read stalls under Flink checkpointing (docs/flink.md).
                       "--experiments=use_deprecated_read"],
                      pid_file=self._pid_file("expansion"), log_file=self._log_file("expansion"),
                      cwd=self.home)

    def start(self) -> None:
        """Starts whichever component is not running, then waits until all are healthy."""
        if self.pid is None and self._port_taken():
            raise process.StackError(
                f"flink: {self.address} is already in use by a process the stack did not start;"
                " stop it or move the cluster with SENSORY_FLINK_REST_PORT (docs/flink.md)")
        self.home.mkdir(parents=True, exist_ok=True)
        self.launch()
        dead: list[str] = []

        def started() -> bool:
            dead.extend(c for c in self.components if self.component_pid(c) is None)
            return bool(dead) or self.healthy()

        process.wait_until(started, timeout_s=self.start_timeout_s, what=self.name,
                           log_file=self.home / "log", pid_file=self.pid_file)
        if dead:
            # Say at once which part died and why, instead of waiting out the timeout.
            log = self._log_file(dead[0])
            lines = [line for line in log.read_text(errors="replace").splitlines()
                     if line.strip()] if log.exists() else []
            raise process.StackError(f"flink: the {dead[0]} exited during start-up: "
                                     f"{lines[-1] if lines else 'no output'} (see {log})")

    def launch(self) -> None:
        self._write_config()
        starters = {"jobmanager": self.start_jobmanager, "taskmanager": self.start_taskmanager,
                    "worker_pool": self._start_worker_pool,
                    "expansion": self._start_expansion_service}
        # The fixed-port services first: the JVMs' many ephemeral sockets come after them.
        for component in sorted(self.components, key=lambda c: c in ("jobmanager", "taskmanager")):
            if self.component_pid(component) is None:
                starters[component]()

    def overview(self) -> dict:
        """Flink's ``/overview`` (task managers, slots, jobs by state)."""
        with urllib.request.urlopen(f"http://{self.address}/overview", timeout=3) as reply:
            return json.load(reply)

    def healthy(self) -> bool:
        if any(self.component_pid(c) is None for c in self.components):
            return False
        overview = self.overview()
        return (overview.get("taskmanagers", 0) >= 1 and overview.get("slots-total", 0) >= 2
                and process.port_open(config.HOST, config.WORKER_POOL_PORT)
                and process.port_open(config.HOST, config.EXPANSION_PORT))

    def stop(self) -> bool:
        stopped = False
        for component in reversed(self.components):
            stopped = process.stop(self._pid_file(component)) or stopped
        # Blob caches and the RPC jars Flink unpacks at every start; nothing in them outlives
        # the processes (checkpoints and savepoints live elsewhere).
        for leftover in (*(self.home / "tmp").glob("tm_*"), *(self.home / "tmp").glob("jm_*"),
                         *(self.home / "tmp").glob("flink-rpc-*.jar")):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        return stopped

    def version(self) -> Optional[str]:
        if not self.installed():
            return None
        return f"Flink {flink_build.FLINK_VERSION}, Beam Java {flink_build.BEAM_JAVA_VERSION}"
