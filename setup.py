"""Builds the Cython kernels in ledger/_native.

Directives are set once here. LEDGER_CYTHON_DEBUG=1 builds with bounds checks, wraparound
and initialised-memory checks back on (slower; for hunting a kernel bug).
"""

import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("LEDGER_CYTHON_DEBUG") == "1"
directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": debug,
    "initializedcheck": debug,
    "cdivision": not debug,
    "nonecheck": debug,
    "embedsignature": True,
}
compile_args = ["-O0", "-g"] if debug else ["-O3"]

extensions = [
    Extension(
        f"ledger._native.{name}",
        [f"ledger/_native/{name}.pyx"],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
    )
    for name in ("posting", "copyfmt", "rollup", "reconcile")
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives, annotate=False))
