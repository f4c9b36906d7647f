"""conrt: CoNR as a real-time neural deferred shader for anime characters.

Package map (one-way imports along the data flow):
    conrt.characters  character asset model, glTF/VRM io, procedural characters
    conrt.physics     PyBullet rig driving, cloth and hair -> Pose
    conrt.shaders     ModernGL passes: Ultra-Dense Pose (UDP) and toon
    conrt.runtime     the CoNR network and its backends
    conrt.engine_bridge  shared-memory frames out / poses in
Boundary types live in ``conrt.types``, errors in ``conrt.errors``; only
``conrt.cli`` (and ``conrt.commands``) wires stages together.
"""

__version__ = "0.1.0"
