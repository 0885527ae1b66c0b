"""The main job: the simulated arm driven by the default policy through the three ROS nodes.

``processes`` starts the nodes as separate processes on loopback DDS, ``episode_runner`` plays the
operator (reset, instruction, arm, watch for success) over real topics and services, ``report``
turns what was recorded into a table, a plot and a GIF. Only ``report`` is free of rclpy.
"""
