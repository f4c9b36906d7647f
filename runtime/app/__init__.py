"""conrt.runtime.app: a runtime put together from the layers below.

``RuntimeSpec`` + ``build_runtime`` and the stages (``frame_loop``), render
passes (``passes``), the sheet as one object and the model source
(``session``), sheet fitting (``sheet_fit``), frame outputs (``outputs``),
the bridge's frame source (``bridge_source``) and measurements (``profiling``).

May import ``nn`` and ``backends``; nothing below imports it
(tests/test_import_direction.py).
"""
