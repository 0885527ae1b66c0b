"""How far the stamps of a stream from another host lie behind this host's clock, for a policy on a GPU
workstation fed by a robot PC whose clock is not synchronised with it.

The policy node stamps each chunk with the robot's own joint-state stamp, so the executor, on the robot's
clock, compensates latency correctly whatever this host's clock says. What this host needs is to tell a
stale or broken stamp from a clock offset: each message's ``arrival - stamp`` is the offset plus its
transport delay, so the smallest over the last messages estimates the offset (plus the least delay), and a
message whose delay exceeds that by more than the input timeout is stale, whatever the offset.
"""

from __future__ import annotations

from collections import deque


class ClockOffset:
    """``arrival - stamp`` of the last ``window`` messages (seconds, this host's clock minus the sender's)."""

    def __init__(self, window: int = 100) -> None:
        self._offsets: deque[float] = deque(maxlen=window)

    def add(self, arrival: float, stamp: float) -> None:
        self._offsets.append(arrival - stamp)

    @property
    def estimate(self) -> float | None:
        """The offset plus the least transport delay seen; ``None`` before the first message."""
        return min(self._offsets) if self._offsets else None

    def delay(self, arrival: float, stamp: float) -> float:
        """How much later than the stream's least-delayed message this one arrived, on the sender's clock."""
        estimate = self.estimate
        return 0.0 if estimate is None else arrival - stamp - estimate
