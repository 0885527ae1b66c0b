"""MuJoCo arm simulator: arm model, task scenes with instructions, scripted expert, episode recording."""

import os

# Offscreen rendering needs a GL backend chosen before mujoco is imported; EGL works headless.
os.environ.setdefault("MUJOCO_GL", "egl")
