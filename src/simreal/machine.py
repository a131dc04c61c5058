"""The hardware and library versions a measured figure was taken on (written next to every result)."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it ("" where /proc/cpuinfo has none)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")


def describe_machine() -> dict[str, Any]:
    """Platform, CPU model and count, Python and library versions. `torch_cpu_capability` is the
    instruction set torch's CPU kernels dispatch to (e.g. AVX512 or AVX2): kernels for different
    instruction sets may round differently, so a seeded run repeats bit for bit only where it matches."""
    import mujoco
    import numpy
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "mujoco": mujoco.__version__,
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
