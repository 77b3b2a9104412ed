"""Run the installed console scripts the way a person does: as processes, from the virtualenv.

Tests of a command line's failure modes must see what a terminal sees (exit status, every byte
on stderr, no traceback), which an in-process call to ``main()`` would hide.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def assert_one_line_error(self, code: int, *needles: str) -> str:
        """Exit status ``code``, exactly one line on stderr containing every needle, and no
        traceback anywhere; returns that line."""
        assert "Traceback" not in self.stderr + self.stdout, self.stderr
        assert self.code == code, (self.code, self.stderr)
        assert len(self.stderr_lines) == 1, self.stderr
        assert self.stderr.endswith("\n"), self.stderr
        line = self.stderr_lines[0]
        for needle in needles:
            assert needle in line, (needle, line)
        return line


def run_script(
    name: str,
    *args: str,
    env: Mapping[str, str | None] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> Ran:
    """Run ``<venv>/bin/<name> args``; ``env`` overrides the current environment (``None``
    removes a variable). Help is laid out for a 100-column terminal whatever runs the tests,
    and a KINERJA_LOG_LEVEL left in the shell does not bring the libraries' logs back."""
    environment = {**os.environ, "COLUMNS": "100"}
    environment.pop("KINERJA_LOG_LEVEL", None)
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    done = subprocess.run(
        [str(BIN / name), *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


@contextmanager
def closed_port() -> Iterator[int]:
    """A local port where nothing listens: bound (so no one else takes it) but never listening,
    so a connection is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
    finally:
        sock.close()
