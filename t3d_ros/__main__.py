"""``python -m t3d_ros <command>``: see ``t3d_ros/cli/``."""

import sys

from t3d_ros.cli import main

if __name__ == "__main__":
    sys.exit(main())
