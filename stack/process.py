"""Starting, finding and stopping our own background processes through pid files."""
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

_LOGGER = logging.getLogger(__name__)


class StackError(RuntimeError):
    """A service could not be installed or started; the message says where to look."""


def read_pid(pid_file: Path) -> Optional[int]:
    """The pid recorded in ``pid_file`` if that process is still alive, else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A zombie (exited, not yet reaped) no longer runs.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    return None if state == "Z" else pid


def start(command: Sequence[str], *, pid_file: Path, log_file: Path,
          env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None) -> int:
    """Starts ``command`` detached (own session, output to ``log_file``) and records its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=str(cwd) if cwd else None,
            start_new_session=True)
    pid_file.write_text(f"{process.pid}\n")
    return process.pid


def stop(pid_file: Path, *, timeout_s: float = 30.0) -> bool:
    """Stops the process of ``pid_file`` (SIGTERM, then SIGKILL); returns whether one ran."""
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and read_pid(pid_file) is not None:
        _reap(pid)
        time.sleep(0.2)
    if read_pid(pid_file) is not None:
        _LOGGER.warning("pid %s ignored SIGTERM for %.0f s; killing it", pid, timeout_s)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    # Processes started by this very interpreter stay zombies until waited for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], *, timeout_s: float, what: str,
               log_file: Optional[Path] = None, pid_file: Optional[Path] = None) -> None:
    """Polls ``check`` until it is true; fails early if the process behind ``pid_file`` died.

    Raises:
        StackError: On timeout or early death, naming the log file to read.
    """
    deadline = time.monotonic() + timeout_s
    hint = f"; see {log_file}" if log_file else ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # pylint: disable=broad-except
            pass  # not up yet
        if pid_file is not None and read_pid(pid_file) is None:
            raise StackError(f"{what} exited during start-up{hint}")
        time.sleep(0.5)
    raise StackError(f"{what} not healthy after {timeout_s:.0f} s{hint}")


def run_checked(command: Sequence[str], *, what: str, log_file: Path,
                env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None,
                timeout_s: float = 1800) -> None:
    """Runs an install step to completion, output appended to ``log_file``.

    Raises:
        StackError: The step failed or timed out; the message names the log file.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        log.write(f"\n$ {' '.join(command)}\n".encode())
        log.flush()
        try:
            result = subprocess.run(list(command), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                                    cwd=str(cwd) if cwd else None, timeout=timeout_s,
                                    check=False)
        except subprocess.TimeoutExpired as err:
            raise StackError(f"{what} timed out after {timeout_s:.0f} s; see {log_file}") from err
        except FileNotFoundError as err:
            raise StackError(f"{what}: {command[0]} is not installed") from err
    if result.returncode:
        raise StackError(f"{what} failed (exit {result.returncode}); see {log_file}")
