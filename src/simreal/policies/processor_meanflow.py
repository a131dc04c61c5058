"""Pre/post processors of the simreal_meanflow policy (found by LeRobot's naming convention)."""

from simreal.policies.normalization import make_processors as make_simreal_meanflow_pre_post_processors

__all__ = ["make_simreal_meanflow_pre_post_processors"]
