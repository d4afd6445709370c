"""A program in a real pseudo-terminal of a given size, with everything it writes to the
terminal recorded (time, bytes) by a reader thread, as an SSH client would receive it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import termios
import threading
import time

from benchmarks.common import child_env


class PtyProgram:
    def __init__(self, argv: list[str], cols: int = 160, rows: int = 48,
                 env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        env = dict(env or child_env())
        env.update(TERM="xterm-256color", COLORTERM="truecolor", COLUMNS=str(cols),
                   LINES=str(rows))
        env.pop("TEXTUAL", None)
        self.t0 = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # child
            try:
                if cwd:
                    os.chdir(cwd)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.chunks: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.5)
                if not ready:
                    if self._exited():
                        break
                    continue
                data = os.read(self.fd, 65536)
            except OSError:
                break
            if not data:
                break
            with self.lock:
                self.chunks.append((time.perf_counter(), data))
        self.closed.set()

    def _exited(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG)[0] != 0
        except ChildProcessError:
            return True

    # ----- reading -------------------------------------------------------------------------
    def output(self) -> bytes:
        with self.lock:
            return b"".join(c for _, c in self.chunks)

    def bytes_between(self, t_start: float, t_end: float) -> int:
        with self.lock:
            return sum(len(c) for t, c in self.chunks if t_start <= t < t_end)

    def wait_for(self, needle: bytes, timeout: float, start: int = 0) -> float | None:
        """Seconds since launch when `needle` first appeared at or after byte `start` (the
        time its last chunk was read from the terminal)."""
        deadline = time.perf_counter() + timeout
        i, pos, tail = 0, 0, b""  # scan each chunk once, keeping a needle-sized overlap
        while True:
            with self.lock:
                new = self.chunks[i:]
            for t, c in new:
                i += 1
                end = pos + len(c)
                if end > start:
                    piece = c[max(0, start - pos):]
                    if needle in tail + piece:
                        return t - self.t0
                    tail = (tail + piece)[-len(needle):]
                pos = end
            if time.perf_counter() > deadline or self.closed.is_set():
                return None
            time.sleep(0.002)

    def size(self) -> int:
        with self.lock:
            return sum(len(c) for _, c in self.chunks)

    # ----- writing / ending ----------------------------------------------------------------
    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self, grace: float = 3.0) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.perf_counter() + grace
        while time.perf_counter() < deadline and not self._exited():
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)
