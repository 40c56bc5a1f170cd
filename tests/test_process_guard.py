"""A process started by someone else (granian's API workers) still ends when its parent dies."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from tests.stack import ROOT

# The parent starts a child that arranges to exit with it and then ignores SIGTERM, as a
# granian worker busy starting can miss it; the parent prints the child's pid and waits.
_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import signal, time
from app.process_guard import exit_with_parent
exit_with_parent(grace_s=1.0, poll_s=0.1)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(120)
'''], stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
time.sleep(120)
"""


def test_a_child_that_ignores_sigterm_still_exits_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        time.sleep(0.5)
        assert child.is_running(), "the watchdog must leave a child with a live parent alone"
        parent.kill()
        parent.wait(timeout=10)
        child.wait(timeout=15)  # psutil.TimeoutExpired if the child outlives its parent
    finally:
        if parent.poll() is None:
            parent.kill()
