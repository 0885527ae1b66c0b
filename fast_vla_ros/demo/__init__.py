"""The main job: the simulated arm driven by the default policy through the three ROS nodes.

``processes`` starts the nodes as separate processes on loopback DDS, ``episode_runner`` plays the
operator (reset, instruction, arm, watch for success) over real topics and services, ``report``
turns what was recorded into a table, a plot and a GIF; it needs no rclpy.

The adversarial campaign of benchmarks/fuzz.py runs the same nodes against bad input:
``adversarial_inputs`` builds the message classes, ``adversarial_campaign`` plays operator and attacker,
``campaign_observers`` records what the nodes do, ``command_audit`` (no rclpy) judges the commands.
"""
