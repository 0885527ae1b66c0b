"""Child process for the two-host test: a clock for one host that runs OFFSET_S seconds off the machine's,
/clock at 100 Hz with the wall time plus the offset, for nodes started there with use_sim_time, as an
unsynchronised workstation's clock would be. Usage: python skewed_clock.py OFFSET_S"""

import sys
import time

from rclpy.node import Node
from rosgraph_msgs.msg import Clock

from fast_vla_ros.nodes.conversions import seconds_to_stamp
from fast_vla_ros.nodes.node_main import run_node


class SkewedClock(Node):
    def __init__(self, offset_s: float) -> None:
        super().__init__("skewed_clock")
        self._offset_s = offset_s
        self._publisher = self.create_publisher(Clock, "/clock", 10)
        self.create_timer(0.01, self._publish)

    def _publish(self) -> None:
        self._publisher.publish(Clock(clock=seconds_to_stamp(time.time() + self._offset_s)))


if __name__ == "__main__":
    offset = float(sys.argv[1])
    sys.exit(run_node(lambda: SkewedClock(offset), "skewed_clock", sys.argv[2:]))
