"""Smooth 50 Hz reaching trajectories from the minimum-jerk model, with realistic noise.

A stand-in for recorded arm motion where none is at hand: human and well-tuned robot reaches follow
the minimum-jerk profile (Flash & Hogan 1985), ``x(s) = x0 + (x1 - x0)(10 s^3 - 15 s^4 + 6 s^5)``.
Each trajectory chains several reaches between random waypoints with random durations, and adds
low-pass filtered noise (servo tracking error) plus a little white noise (encoder quantization), so a
tokenizer sees smooth but not perfectly analytic signals. One dimension is a gripper that switches
between open and closed with short minimum-jerk transitions.
"""

from __future__ import annotations

import numpy as np


def minimum_jerk_profile(s: np.ndarray) -> np.ndarray:
    """Normalized minimum-jerk position profile for phase ``s`` in [0, 1]."""
    s = np.clip(s, 0.0, 1.0)
    return 10 * s**3 - 15 * s**4 + 6 * s**5


def reaching_trajectory(
    rng: np.random.Generator,
    steps: int,
    action_dim: int = 7,
    dt: float = 0.02,
    joint_range: float = 1.5,
    noise_std: float = 0.002,
) -> np.ndarray:
    """One trajectory ``[steps, action_dim]``: the first ``action_dim - 1`` dims are joints, the last a gripper."""
    joints = action_dim - 1
    out = np.empty((steps, action_dim))
    t = 0
    position = rng.uniform(-joint_range, joint_range, joints)
    gripper = float(rng.integers(0, 2))
    while t < steps:
        duration = int(rng.uniform(0.6, 2.0) / dt)
        target = np.clip(position + rng.normal(0, 0.6, joints), -joint_range, joint_range)
        s = minimum_jerk_profile(np.arange(1, duration + 1) / duration)[:, None]
        n = min(duration, steps - t)
        out[t : t + n, :joints] = (position + (target - position) * s)[:n]
        next_gripper = 1.0 - gripper if rng.random() < 0.5 else gripper
        transition = min(duration, int(0.3 / dt))
        g = np.full(duration, next_gripper)
        g[:transition] = gripper + (next_gripper - gripper) * minimum_jerk_profile(
            np.arange(1, transition + 1) / transition
        )
        out[t : t + n, joints] = g[:n]
        position, gripper, t = target, next_gripper, t + n
    # Servo tracking error: white noise smoothed over ~0.1 s, then encoder-level white noise.
    kernel = np.hanning(int(0.1 / dt) + 2)[1:-1]
    kernel /= kernel.sum()
    colored = np.stack(
        [np.convolve(rng.normal(0, noise_std * 4, steps), kernel, mode="same") for _ in range(joints)], axis=1
    )
    out[:, :joints] += colored + rng.normal(0, noise_std / 4, (steps, joints))
    return out


def reaching_chunks(
    n_chunks: int,
    horizon: int = 50,
    action_dim: int = 7,
    dt: float = 0.02,
    seed: int = 0,
    trajectory_steps: int = 1000,
) -> np.ndarray:
    """``[n_chunks, horizon, action_dim]`` windows cut at random offsets from reaching trajectories."""
    rng = np.random.default_rng(seed)
    per_trajectory = max(1, trajectory_steps // horizon)
    chunks = []
    while len(chunks) < n_chunks:
        trajectory = reaching_trajectory(rng, trajectory_steps, action_dim, dt)
        starts = rng.integers(0, trajectory_steps - horizon, per_trajectory)
        chunks.extend(trajectory[s : s + horizon] for s in starts)
    return np.stack(chunks[:n_chunks])
