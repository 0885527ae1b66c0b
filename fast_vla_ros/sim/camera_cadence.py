"""When a simulated camera takes its frames: every period of the simulated clock, whatever the steps did.

``sim_node`` advances physics once per step timer tick, by the time that really elapsed. A real camera keeps
its cadence while the computer is busy; rendering only at step times would not: a step that came late on a
loaded machine would skip the frames of the instants it covered, and the recorder would rightly count them
as dropped (docs/data.md, recording health). The node instead stops the simulation at each instant this
gives, renders there, and stamps the frame with it: such frames arrive late, not never.
"""

from __future__ import annotations


class CameraCadence:
    def __init__(self, period: float) -> None:
        if not period > 0:
            raise ValueError(f"camera period must be positive, got {period}")
        self.period = period
        self._next: float | None = None

    def instants(self, start: float, end: float) -> list[float]:
        """The frame instants in ``[start, end]`` of a step that simulates from ``start`` to ``end``.

        The first frame is at the first step's start. A gap of more than a period before ``start`` (the
        simulation itself stood still, e.g. a stall beyond the node's catch-up limit) restarts the cadence
        at ``start``: those frames were never simulated.
        """
        if self._next is None or self._next < start - self.period:
            self._next = start
        instants = []
        while self._next <= end:
            instants.append(max(self._next, start))
            self._next += self.period
        return instants
