"""Thin rclpy nodes over the ROS-free layers: message conversion, QoS, parameters, threads."""
