import sys

from fast_vla_ros.cli import main

sys.exit(main())
