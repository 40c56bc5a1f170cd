"""Child processes that cannot outlive `synthtiles serve`.

`serve` starts Redis and workers in their own sessions (so a terminal's Ctrl-C reaches
`serve` alone, which stops them in order). If `serve` itself is killed outright (SIGKILL,
OOM) nothing of its own runs any more, so each child asks the kernel for a SIGTERM when its
parent dies (Linux `PR_SET_PDEATHSIG`).
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable

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
