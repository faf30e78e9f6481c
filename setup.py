"""Shim for Beam's `--setup_file ./setup.py`: the stager builds the package the workers install with
`python -m build --sdist` when `build` is installed, else `python setup.py sdist`; both read the metadata,
packages and package data from pyproject.toml. Nothing is configured here."""

from setuptools import setup

setup()
