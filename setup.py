"""The compiled parts of the observatory (C, CPython API): the line-protocol pass over plain lines,
and the grouping step of the warehouse's ingest.

Everything else is in pyproject.toml; ``pip install -e .`` builds the extensions in place.
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
        ),
        Extension(
            "observatory.warehouse._group",
            sources=["observatory/warehouse/_group.c"],
            extra_compile_args=FLAGS,
        ),
    ]
)
