"""Start and stop a private rrdcached, for tests and the demo.

Production runs the Debian ``rrdcached`` service and only gives aaad its
address; this module is tooling, not reactor code: it blocks (briefly, with
a bounded deadline) while the daemon comes up or goes down, so call it from
test fixtures or scripts, never from the reactor thread.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import IO

#: How often :meth:`RrdcachedProcess.start` polls for the socket, in seconds.
_POLL_INTERVAL = 0.003


def rrdcached_binary() -> str | None:
    """Return the path of the ``rrdcached`` executable, or None if not installed."""
    return shutil.which("rrdcached")


def rrdcached_command(
    sock_path: str,
    journal_dir: str,
    base_dir: str,
    *,
    pid_file: str | None = None,
    binary: str = "rrdcached",
) -> list[str]:
    """Build the argv of a foreground rrdcached listening on a unix socket.

    ``-B`` confines the daemon to ``base_dir`` (the RRD directory must be
    inside it), ``-F`` flushes every cached update at shutdown, and
    ``-w 300 -z 60`` writes each file at most every five minutes, spread over
    a minute. rrdcached writes a pid file even in the foreground and
    defaults to ``/var/run/rrdcached.pid``, so a private one gets its own
    (``<sock_path>.pid`` unless ``pid_file`` is given).
    """
    return [
        binary,
        "-g",
        "-l",
        f"unix:{sock_path}",
        "-p",
        pid_file if pid_file is not None else f"{sock_path}.pid",
        "-j",
        journal_dir,
        "-b",
        os.path.realpath(base_dir),
        "-B",
        "-F",
        "-w",
        "300",
        "-z",
        "60",
    ]


class RrdcachedProcess:
    """A private rrdcached child process on a unix socket.

    Use as a context manager: entering starts it and waits until the socket
    accepts connections; leaving stops it with SIGTERM (which flushes, thanks
    to ``-F``) and waits for it to exit.
    """

    def __init__(
        self,
        sock_path: str,
        journal_dir: str,
        base_dir: str,
        *,
        binary: str | None = None,
        start_timeout: float = 10.0,
        stop_timeout: float = 10.0,
    ) -> None:
        found = binary or rrdcached_binary()
        if found is None:
            raise FileNotFoundError("rrdcached is not installed (Debian package rrdcached)")
        self.sock_path = sock_path
        self.journal_dir = journal_dir
        self.base_dir = base_dir
        self._binary = found
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    @property
    def address(self) -> str:
        """The address to give to ``RrdStore(daemon=...)`` and ``--daemon``."""
        return f"unix:{self.sock_path}"

    def start(self) -> None:
        """Start the daemon and return once its socket accepts connections."""
        os.makedirs(self.journal_dir, exist_ok=True)
        os.makedirs(self.base_dir, exist_ok=True)
        argv = rrdcached_command(
            self.sock_path, self.journal_dir, self.base_dir, binary=self._binary
        )
        # A file, not a pipe: nobody reads while it runs, so a pipe could fill.
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this call; closed in stop()
        self._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + self._start_timeout
        while not self._accepts_connections():
            if self._process.poll() is not None:
                returncode = self._process.returncode
                output = self._read_output()
                self.stop()
                raise RuntimeError(f"rrdcached exited with {returncode}: {output}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"rrdcached did not listen on {self.sock_path}")
            time.sleep(_POLL_INTERVAL)

    def _accepts_connections(self) -> bool:
        """Whether the unix socket exists and a connection to it succeeds."""
        if not os.path.exists(self.sock_path):
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(self.sock_path)
            except OSError:
                return False
        return True

    def stop(self) -> None:
        """Stop the daemon (flushing its cache) and wait for it; kill it if it hangs."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self._stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None

    def _read_output(self) -> str:
        """What the daemon printed so far, for error messages."""
        if self._output is None:
            return ""
        self._output.seek(0)
        return self._output.read().decode(errors="replace").strip()

    def __enter__(self) -> RrdcachedProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
