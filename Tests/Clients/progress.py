"""Waiting without a deadline on total work: a wait fails only when what it watches has not
changed for a stall interval (STELE_TEST_STALL_SECONDS, 120 s by default), however long the
whole wait takes on a slow, busy machine.

    p = Progress("10000 records")
    while len(consumed) < 10000:
        consumed += poll()
        p.check(len(consumed))   # SystemExit once len(consumed) is stuck for the stall interval
"""
import os
import time

DEFAULT_STALL_SECONDS = 120.0


def stall_seconds():
    """The stall interval: STELE_TEST_STALL_SECONDS if set to a positive number, else 120 s."""
    try:
        value = float(os.environ.get("STELE_TEST_STALL_SECONDS", ""))
    except ValueError:
        return DEFAULT_STALL_SECONDS
    return value if value > 0 else DEFAULT_STALL_SECONDS


class Progress:
    _UNSET = object()

    def __init__(self, what, stall=None):
        self.what = what
        self.stall = stall_seconds() if stall is None else float(stall)
        self.value = Progress._UNSET
        self.since = time.monotonic()

    def check(self, value, shown=None):
        """Restarts the clock whenever value differs from the last one; raises SystemExit once it
        has not changed for the stall interval. shown, if given, is printed instead of value."""
        now = time.monotonic()
        if self.value is Progress._UNSET or value != self.value:
            self.value = value
            self.since = now
        elif now - self.since >= self.stall:
            raise SystemExit(f"no progress for {self.stall:g} s waiting for {self.what} "
                             f"(stuck at {value if shown is None else shown})")
        return value
