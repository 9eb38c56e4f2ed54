"""Builds the native kernels in kernels/ into extension modules inside tinygrad_nm.

Metadata and dependencies live in pyproject.toml; this file exists only for the
extensions. Without any kernel sources it builds a pure-Python package.
"""
from setuptools import setup

setup()
