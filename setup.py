"""The compiled part of the observatory: the line-protocol pass over plain lines (C, CPython API).

Everything else is in pyproject.toml; ``pip install -e .`` builds the extension in place.
"""

import os

from setuptools import Extension, setup

FLAGS = ["-O3", "-Wall", "-Wextra", "-Wno-missing-field-initializers"] if os.name == "posix" else []

setup(
    ext_modules=[
        Extension(
            "observatory.sources._lineproto",
            sources=["observatory/sources/_lineproto.c"],
            extra_compile_args=FLAGS,
        )
    ]
)
