"""ClockOffset: the offset between a sender's stamps and this host's clock, told apart from a late message."""

import pytest

from fast_vla_ros.nodes.clock_offset import ClockOffset


def test_the_least_delayed_message_gives_the_offset_and_late_ones_stand_out():
    offset = ClockOffset(window=5)
    assert offset.estimate is None and offset.delay(10.0, 8.0) == 0.0
    for k, delay in enumerate([0.004, 0.001, 0.010]):  # this host's clock 2 s ahead of the sender's
        stamp = 100.0 + 0.01 * k
        offset.add(stamp + 2.0 + delay, stamp)
    assert offset.estimate == pytest.approx(2.001)
    assert offset.delay(102.6 + 0.3, 100.6) == pytest.approx(0.299)  # 0.3 s in transit: stale by 0.299 s


def test_the_estimate_follows_a_clock_that_moved_once_the_window_has_passed():
    offset = ClockOffset(window=3)
    for k in range(3):
        offset.add(10.0 + k + 0.5, 10.0 + k)
    for k in range(3):
        offset.add(20.0 + k + 1.5, 20.0 + k)  # the sender's clock stepped back a second
    assert offset.estimate == pytest.approx(1.5)
