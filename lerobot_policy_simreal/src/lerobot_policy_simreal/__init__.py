"""LeRobot plugin: importing it registers simreal's policy types and their processors."""

from simreal.policies import (
    SimrealDiffusionConfig,
    SimrealDiffusionPolicy,
    SimrealMeanflowConfig,
    SimrealMeanflowPolicy,
    SimrealStreamingConfig,
    SimrealStreamingPolicy,
)

__all__ = [
    "SimrealDiffusionConfig",
    "SimrealDiffusionPolicy",
    "SimrealMeanflowConfig",
    "SimrealMeanflowPolicy",
    "SimrealStreamingConfig",
    "SimrealStreamingPolicy",
]
