"""PyBullet, imported without its banner: ``import pybullet`` prints "pybullet
build time: ..." on stderr from C, through ``conrt -q`` and into every log.
``physics.world`` imports it from here first; later imports reuse the module."""
from __future__ import annotations

import os
import sys


def _import_quietly():
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import pybullet  # lazy: here, with stderr silenced (its import prints a build banner)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return pybullet


pybullet = _import_quietly()
