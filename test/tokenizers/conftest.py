"""Fixtures for the tokenizer tests: chunk generators and one FAST tokenizer fitted per session.

(pytest runs with ``--import-mode=importlib``, so helpers reach tests as fixtures, not imports.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fast_vla_ros.tokenizers import FastTokenizer

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
HORIZON, ACTION_DIM, SCALE = 50, 7, 10.0


def smooth_chunks(
    rng: np.random.Generator, n: int, horizon: int = HORIZON, action_dim: int = ACTION_DIM
) -> np.ndarray:
    """Sums of a few low-frequency cosines with random offsets, inside [-1, 1]: what FAST is made for."""
    t = np.linspace(0.0, 1.0, horizon)[None, :, None, None]
    frequency = rng.uniform(0.0, 2.0, (n, 1, action_dim, 3))
    phase = rng.uniform(0.0, 2 * np.pi, (n, 1, action_dim, 3))
    amplitude = rng.uniform(0.0, 0.3, (n, 1, action_dim, 3))
    waves = (amplitude * np.cos(2 * np.pi * frequency * t + phase)).sum(axis=-1)
    return np.clip(waves + rng.uniform(-0.5, 0.5, (n, 1, action_dim)), -1.0, 1.0)


def code_coverage_chunks(horizon: int = HORIZON, action_dim: int = ACTION_DIM, scale: float = SCALE) -> np.ndarray:
    """Constant chunks whose mean coefficient takes every value a chunk in [-1, 1] can produce.

    A chunk in [-1, 1] has no orthonormal DCT coefficient beyond sqrt(H); fitting on these as well puts
    every such code in the BPE vocabulary, so the quantization bound holds for any chunk a test draws.
    """
    reach = int(np.ceil(scale * np.sqrt(horizon)))
    levels = np.arange(-reach, reach + 1) / (scale * np.sqrt(horizon))
    return np.broadcast_to(np.clip(levels, -1, 1)[:, None, None], (len(levels), horizon, action_dim)).copy()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA


@pytest.fixture(scope="session")
def make_smooth_chunks():
    return smooth_chunks


@pytest.fixture(scope="session")
def fast_tokenizer() -> FastTokenizer:
    rng = np.random.default_rng(0)
    training = np.concatenate([smooth_chunks(rng, 400), code_coverage_chunks()])
    return FastTokenizer.fit(training, scale=SCALE, vocab_size=1024)
