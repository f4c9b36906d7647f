"""Fixtures of the physics tests: a stick character (needs only conrt.types)
and the procedural sample-like character (skirt + twin tails + long hair)."""
from __future__ import annotations

import pytest

from conrt.physics.stick import stick_character


@pytest.fixture(scope="session")
def stick():
    return stick_character()


@pytest.fixture(scope="session")
def girl():
    procedural = pytest.importorskip("conrt.characters.procedural")
    return procedural.generate(0, bottom="skirt", tails="twin", long_hair=True)
