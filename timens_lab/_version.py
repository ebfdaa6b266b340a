"""The package version, in one place: pyproject.toml reads it (``[tool.setuptools.dynamic]``),
and modules import it from here, never from the package facade (``timens_lab/__init__.py``)."""

__version__ = "0.1.0"
