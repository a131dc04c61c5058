"""Generative visuomotor policies as LeRobot policy types.

Importing this package registers "simreal_diffusion", "simreal_meanflow" and "simreal_streaming"
with LeRobot. Public API:
- make_policy(kind, features, stats, *, preset=None, fps=None, **overrides) -> SimrealPolicy
- make_config(kind, features, *, preset=None, **overrides) -> SimrealPolicyConfig
- make_processors(config, stats) -> (preprocessor, postprocessor)
- save_checkpoint(policy, preprocessor, postprocessor, directory)
- load_policy(checkpoint_dir, device="auto", *, features=None, stats=None) -> PolicyRunner
"""

from simreal.policies.configuration_common import UNET_PRESETS, SimrealPolicyConfig
from simreal.policies.configuration_diffusion import SimrealDiffusionConfig
from simreal.policies.configuration_meanflow import SimrealMeanflowConfig
from simreal.policies.configuration_streaming import SimrealStreamingConfig
from simreal.policies.factory import HEADS, make_config, make_policy, make_processors, save_checkpoint
from simreal.policies.modeling_diffusion import SimrealDiffusionPolicy
from simreal.policies.modeling_meanflow import SimrealMeanflowPolicy
from simreal.policies.modeling_streaming import SimrealStreamingPolicy
from simreal.policies.policy_base import SimrealPolicy
from simreal.policies.runner import PolicyRunner, load_policy, schema_mismatch

__all__ = [
    "HEADS",
    "UNET_PRESETS",
    "PolicyRunner",
    "SimrealDiffusionConfig",
    "SimrealDiffusionPolicy",
    "SimrealMeanflowConfig",
    "SimrealMeanflowPolicy",
    "SimrealPolicy",
    "SimrealPolicyConfig",
    "SimrealStreamingConfig",
    "SimrealStreamingPolicy",
    "load_policy",
    "make_config",
    "make_policy",
    "make_processors",
    "save_checkpoint",
    "schema_mismatch",
]
