"""Training a policy: the train loop (``train_loop``) and the heads that serve training only
(``colour_patches``), which never enter a checkpoint's policy.

The runtime in ``fast_vla_ros.policy`` never imports this package: ``policy_node`` loads a checkpoint
without the training code. Nothing is imported here so that importing one module costs only its own.
"""
