import platform

from simreal.machine import describe_machine


def test_describe_machine_names_the_cpu_and_the_kernels_torch_runs():
    info = describe_machine()
    assert info["cpu_count"] >= 1 and info["torch"] and info["mujoco"] and info["numpy"]
    assert isinstance(info["torch_cpu_capability"], str) and info["torch_cpu_capability"]
    if platform.system() == "Linux" and platform.machine() == "x86_64":  # /proc/cpuinfo names it there
        assert info["cpu_model"]
