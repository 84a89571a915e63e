"""Packages: mocap and its subpackages, plus the repository's models/ folder installed as `mocap.weights`,
so that a wheel carries the trained default models (mocap.mesh.models finds them there).
Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["mocap*"]), "mocap.weights"], package_dir={"mocap.weights": "models"})
