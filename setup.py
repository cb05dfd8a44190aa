"""Build script: the metadata is in setup.cfg; this adds the optional C extension.

aaad/radius/_speedups.c holds C versions of the RADIUS codec's hot functions.
It is optional: without a compiler (or Python headers) the build goes on and
aaad.radius.codec uses its pure-Python functions (codec.IMPLEMENTATION says which).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("aaad.radius._speedups", ["aaad/radius/_speedups.c"], optional=True)])
