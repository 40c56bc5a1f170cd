"""Child processes that cannot outlive `synthtiles serve`.

`serve` starts Redis and workers in their own sessions (so a terminal's Ctrl-C reaches
`serve` alone, which stops them in order). If `serve` itself is killed outright (SIGKILL,
OOM) nothing of its own runs any more, so each child asks the kernel for a SIGTERM when its
parent dies (Linux `PR_SET_PDEATHSIG`).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None]:
    """A `preexec_fn` for subprocess.Popen: the child gets SIGTERM when this process dies."""
    parent = os.getpid()

    def arrange() -> None:  # runs in the child, between fork and exec
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        except (OSError, AttributeError):  # not Linux: serve's own cleanup still applies
            return
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return arrange


def exit_with_parent(grace_s: float = 5.0, poll_s: float = 1.0) -> None:
    """For a process that is already running (granian's API workers, spawned by granian and
    not by us): the same kernel request, plus a watchdog thread, because a signal can go
    unheard there (granian turns SIGTERM into a graceful stop that a worker busy starting
    can miss). When the parent is gone the watchdog sends SIGTERM, and exits the process
    outright if it still runs `grace_s` later."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (OSError, AttributeError):  # not Linux: the watchdog still applies
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os._exit(1)  # the graceful stop did not happen; there is nothing left to serve

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


# The temporary folders `serve` makes carry its pid here: a folder whose process is gone was
# left by a `serve` that was killed outright (SIGKILL, OOM) and is removed by the next one.
OWNER_FILE = "owner.pid"


def owned_temp_dir(prefix: str) -> Path:
    """A new temporary folder marked as this process's (see remove_stale_temp_dirs)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    (folder / OWNER_FILE).write_text(str(os.getpid()))
    return folder


def remove_stale_temp_dirs(prefix: str) -> list[Path]:
    """Remove `prefix*` temporary folders whose owning process no longer runs."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owner = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not one of ours, or not marked: leave it
        if not _running(owner):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
