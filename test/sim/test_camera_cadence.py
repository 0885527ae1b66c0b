"""The simulated camera's frame instants: a period apart, whatever the lengths of the steps."""

from __future__ import annotations

import numpy as np
import pytest

from fast_vla_ros.sim.camera_cadence import CameraCadence

PERIOD = 1 / 30


def test_regular_steps_give_one_frame_per_period():
    cadence = CameraCadence(PERIOD)
    edges = np.arange(0, 101) * 0.01  # 1 s of 100 Hz steps
    instants = [t for start, end in zip(edges[:-1], edges[1:], strict=True) for t in cadence.instants(start, end)]
    np.testing.assert_allclose(instants, np.arange(31) * PERIOD, atol=1e-12)


def test_a_late_step_renders_every_instant_it_covered():
    cadence = CameraCadence(PERIOD)
    assert cadence.instants(0.0, 0.01) == [0.0]
    # a step 90 ms late covers three frame instants: all are rendered, at their own instants
    np.testing.assert_allclose(cadence.instants(0.01, 0.11), [PERIOD, 2 * PERIOD, 3 * PERIOD])
    np.testing.assert_allclose(cadence.instants(0.11, 0.12), [])
    np.testing.assert_allclose(cadence.instants(0.12, 0.14), [4 * PERIOD])


def test_time_the_simulation_never_ran_restarts_the_cadence():
    cadence = CameraCadence(PERIOD)
    cadence.instants(0.0, 0.01)
    assert cadence.instants(1.0, 1.01) == [1.0]  # a stall the simulation did not catch up on


def test_the_period_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        CameraCadence(0.0)
