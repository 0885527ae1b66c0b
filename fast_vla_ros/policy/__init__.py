"""Vision-language-action policies: a PaliGemma-layout model that writes action tokens, and its runtime.

Modules, in the order data flows through them: ``config`` (runtime settings and model sizes),
``vocabulary`` (text ids and where action tokens live), ``prompt`` (pi0-FAST prompt layout), ``images``
(camera frames to pixels), ``model`` (the network), ``decoding`` (constrained KV-cached decoding),
``action_space`` (normalized chunk to joint targets; numpy only), ``runtime`` (``VLAPolicy.predict``),
``checkpoint`` (safetensors + JSON directories). Nothing is imported here so that ``action_space``
stays usable without torch. This is the runtime only: training lives in ``fast_vla_ros.training``,
closed-loop evaluation in ``fast_vla_ros.evaluation``, and no module here imports them or the simulator.
"""
