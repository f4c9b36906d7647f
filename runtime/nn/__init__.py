"""conrt.runtime.nn: the shader networks and what they take and load.

The model interface and registry (``model``, ``architectures``), the configs
(``config``, ``configs/*.json``), the architectures (``conr_v1``, ``lookup_net``)
and their fast kernels (``fast_conv``, ``fast_cinn``), weights (``checkpoint``),
the sheet encoder and frame preparation (``sheet``, ``official``).

Imports only ``conrt.runtime.limits``/``defaults`` and earlier layers, never
``backends`` or ``app`` (tests/test_import_direction.py).
"""
