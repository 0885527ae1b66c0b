"""FAST-tokenized vision-language-action policies for ROS 2 robot arms.

The ROS build installs this package together with the rosidl-generated ``fast_vla_ros.msg`` into the
same import package. ``extend_path`` lets a source checkout placed first on ``sys.path`` still find the
generated ``msg`` subpackage in the installed copy (see ROS_ON_PIP.md, "Interfaces and Python code in one
package").
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
