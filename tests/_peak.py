"""Peak memory of a command, measured so that the test process's own size does not count.

Linux carries a process's memory high-water mark across fork and exec, so `wait4` on a child of a big
pytest worker (models loaded) reports the worker's size. A small relay process starts the command and
reports its child's peak instead."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RELAY = (
    "import os, resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)


def run_peak(cmd: list[str], report: Path, **popen) -> tuple[int, float]:
    """(exit status, peak resident MB) of `cmd`; `popen` is passed to subprocess.run (env, cwd, stdout...)."""
    proc = subprocess.run([sys.executable, "-c", RELAY, str(report), *cmd], check=False, **popen)
    return proc.returncode, int(report.read_text()) / 1024
