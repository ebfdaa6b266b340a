"""Build hook only: metadata lives in pyproject.toml.

``cffi_modules`` has no pyproject.toml equivalent (jupyter-and-tooling.md §5.2), so this file
stays. The extension is required: the spawner and the sampler's hot loop are C.
"""

from setuptools import setup

setup(cffi_modules=["timens_lab/_ffi_build.py:ffibuilder"])
