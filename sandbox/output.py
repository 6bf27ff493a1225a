"""Bounded capture of a call's stdout and stderr, shared by the backends.

The first `limit` bytes of each stream are kept. Output past that is counted and dropped; a call that keeps
writing past `flood_limit` bytes in all is stopped (failure "output_limit") so 100 MB of output costs
neither memory nor minutes.
"""

from __future__ import annotations

STDOUT, STDERR = 1, 2


class OutputCapture:
    def __init__(self, limit: int, flood_limit: int | None = None) -> None:
        self.limit = limit
        self.flood_limit = flood_limit or max(16 * limit, 1 << 20)
        self._kept = {STDOUT: bytearray(), STDERR: bytearray()}
        self._seen = {STDOUT: 0, STDERR: 0}
        self._notes: dict[int, list[str]] = {STDOUT: [], STDERR: []}

    def note(self, stream: int, line: str) -> None:
        """A line from the sandbox itself (why a call was stopped), kept past the limit."""
        self._notes[stream].append(line)

    def add(self, stream: int, data: bytes) -> bool:
        """Record a chunk; True once the call has written more than `flood_limit` bytes."""
        kept = self._kept[stream]
        room = self.limit - len(kept)
        if room > 0:
            kept += data[:room]
        self._seen[stream] += len(data)
        return self.flooded

    @property
    def seen(self) -> int:
        return self._seen[STDOUT] + self._seen[STDERR]

    @property
    def flooded(self) -> bool:
        return self.seen > self.flood_limit

    @property
    def truncated(self) -> bool:
        return any(self._seen[s] > self.limit for s in (STDOUT, STDERR))

    def text(self, stream: int) -> str:
        kept, seen = self._kept[stream], self._seen[stream]
        text = bytes(kept).decode("utf-8", errors="replace")
        if seen > self.limit:
            more = "more" if self.flooded else f"{seen:,} in all"
            text += f"\n[... output truncated: kept the first {self.limit:,} bytes of {more} ...]"
        for line in self._notes[stream]:
            text += ("" if not text or text.endswith("\n") else "\n") + line + "\n"
        return text
