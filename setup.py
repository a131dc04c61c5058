"""Shim for colcon's ament_python build type, which requires a setup.py; everything is declared in
pyproject.toml (metadata, entry points) and setup.cfg (ROS install layout)."""

from setuptools import setup

setup()
