"""Pre/post processors of the simreal_diffusion policy (found by LeRobot's naming convention)."""

from simreal.policies.normalization import make_processors as make_simreal_diffusion_pre_post_processors

__all__ = ["make_simreal_diffusion_pre_post_processors"]
