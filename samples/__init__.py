"""conrt.samples: the sample character and its sheet (data files), named once here.

A light module (no imports beyond pathlib): the CLI, the runtime, the
benchmarks and the training scripts all take the sample's paths from here.
"""
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent
SAMPLE_CHARACTER = SAMPLES_DIR / "sample_character.glb"
SAMPLE_SHEET_DIR = SAMPLES_DIR / "sheet"
