"""simreal: from demonstrations to a deployed policy."""

import os

# Torch's OpenMP threads spin while waiting for work. simreal always shares its cores (rendering,
# rollouts, a ROS control loop), and there spinning threads starve each other: a MeanFlow training
# step measured 17 s with spinning and 0.35 s with passive waiting on 2 busy cores. It must be set
# before torch loads its OpenMP runtime, i.e. before `import torch`; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
