"""The training tests train the policy tests' toy policies: one definition, in ``test/policy/conftest.py``."""

from __future__ import annotations

from ..policy.conftest import binning_parts, policy_config, samples, trained  # noqa: F401
