"""Scoring a policy in the simulator without ROS: closed-loop episodes (``closed_loop``) and episodes as
videos and contact sheets (``episode_media``).

This is where the policy meets ``fast_vla_ros.sim``, so that the runtime in ``fast_vla_ros.policy`` never
imports the simulator.
"""
