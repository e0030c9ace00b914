"""Progress of a run on stderr: one line per stage, and for long loops the rows done, elapsed and an estimate.

Lines, not a redrawn bar: they read the same in a terminal, a log file and a notebook. A loop that
ends within `every_s` seconds prints nothing; a longer one prints a line every `every_s` seconds and
one when it ends. Silent when quiet (``--quiet``), except for warnings: `warn` always prints, so a
scheduled run's log sees them.

Example:
    >>> progress = Progress()
    >>> with progress.stage("embed", "20,000 texts"):
    ...     task = progress.task("embedding", total=20_000, unit="texts")
    ...     for batch in batches:
    ...         task.advance(len(batch))
    ...     task.done()
    - embed: 20,000 texts
      embedding: 4,096 / 20,000 texts (20%), 5 s elapsed, about 20 s left
      ...
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

try:
    import resource
except ImportError:  # Windows has no resource module
    resource = None  # type: ignore[assignment]

EVERY_S = 5.0  # seconds between two progress lines of one loop


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Task:
    """One loop over a known number of items; `advance` as items finish, `done` at the end."""

    def __init__(
        self,
        what: str,
        total: int,
        unit: str,
        echo: Callable[[str], None] | None,
        *,
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.what = what
        self.total = max(0, int(total))
        self.unit = unit
        self.echo = echo  # None: count silently
        self.every_s = every_s
        self.clock = clock
        self.count = 0
        self.started = clock()
        self._last_line = self.started
        self._printed = False
        self._finished = False

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def line(self) -> str:
        """'embedding: 4,096 / 20,000 texts (20%), 5 s elapsed, about 20 s left'."""
        elapsed = self.elapsed
        head = f"{self.what}: {self.count:,} / {self.total:,} {self.unit}"
        if self.total:
            head += f" ({100 * self.count / self.total:.0f}%)"
        tail = f", {_duration(elapsed)} elapsed"
        if 0 < self.count < self.total:
            tail += f", about {_duration(elapsed / self.count * (self.total - self.count))} left"
        return head + tail

    def advance(self, n: int = 1) -> None:
        """`n` more items finished."""
        self.update(self.count + int(n))

    def update(self, count: int) -> None:
        """`count` items finished so far (never moves backwards, never past the total)."""
        self.count = min(max(self.count, int(count)), self.total) if self.total else max(self.count, int(count))
        now = self.clock()
        if self.echo is not None and now - self._last_line >= self.every_s and self.count < self.total:
            self.echo(f"  {self.line()}")
            self._last_line = now
            self._printed = True

    def done(self) -> None:
        """The loop ended: a closing line, if the loop was long enough to print any."""
        if self._finished:
            return
        self._finished = True
        if self.echo is not None and (self._printed or self.elapsed >= self.every_s):
            self.echo(f"  {self.line()}")

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.done()


class Progress:
    """Stage messages and loop progress for one run, with each stage's duration; only warnings when quiet.

    Args:
        quiet: print no progress (timings are still kept); warnings still print.
        echo: where lines go; stderr by default.
        every_s: seconds between two progress lines of one loop.
    """

    def __init__(
        self,
        quiet: bool = False,
        echo: Callable[[str], None] | None = None,
        *,
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.quiet = quiet
        self.echo = echo or _stderr
        self.every_s = every_s
        self.clock = clock
        self.timings: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {}  # the process's peak resident memory so far, as each stage ends

    def say(self, message: str) -> None:
        """One line, unless quiet."""
        if not self.quiet:
            self.echo(message)

    def warn(self, message: str) -> None:
        """'warning: message', quiet or not: --quiet hides progress, never a warning."""
        self.echo(f"warning: {message}")

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        """'- name: detail' as the stage starts; its duration in `timings` (and a line, from 1 s) when it ends."""
        self.say(f"- {name}{': ' + detail if detail else ''}")
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self.timings[name] = round(elapsed, 3)
        peak = peak_rss_mb()
        if peak is not None:
            self.peak_rss_mb[name] = peak
        if elapsed >= 1.0:  # a long stage says how long it took
            self.say(f"  {name} took {elapsed:.1f} s")

    def task(self, what: str, total: int, unit: str = "rows") -> Task:
        """A loop over `total` items to report on (see Task)."""
        return Task(what, total, unit, None if self.quiet else self.echo, every_s=self.every_s, clock=self.clock)


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far in MiB (None where the platform does not tell it)."""
    if resource is None:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)  # bytes on macOS, KiB on Linux


SILENT = Progress(quiet=True)
