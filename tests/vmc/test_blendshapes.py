"""VMC blendshapes drive the face: a sender's /VMC/Ext/Blend/Val + Apply over
real loopback UDP reach Pose.morph_weights through the character's expressions
(physics/world.py reads the live motion's last frame)."""
from __future__ import annotations

import pytest

from conrt.physics.clips import Animator, get_clip
from conrt.physics.vmc import VmcSender
from conrt.physics.world import PhysicsWorld

from .conftest import wait_until


def test_received_blendshapes_set_the_morph_weights(girl, receiver):
    names = girl.mesh.morph_names
    anim = Animator(girl, get_clip("idle", girl))
    with PhysicsWorld(fps=60) as world, VmcSender(f"127.0.0.1:{receiver.port}", girl) as tx:
        h = world.add(girl, receiver.motion(girl))
        sent, state = 0, {}
        for blends in ({"Blink": 1.0, "A": 0.5, "NoSuchClip": 1.0},
                       {"Blink": 0.0, "Blink_L": 0.25, "A": 0.0, "Joy": 1.0},
                       {"Blink_L": 0.0, "Joy": 0.0}):
            sent += tx.send(anim.pose(0.5), 0.5, blends=blends)
            assert wait_until(lambda: receiver.stats.applied == sent)
            state.update(blends)  # VMC values hold until sent again
            w = world.step()[h].morph_weights
            expect = {n: 0.0 for n in names}
            expect["blink_r"] = state["Blink"]
            expect["blink_l"] = min(1.0, state["Blink"] + state.get("Blink_L", 0.0))
            expect["aa"], expect["joy"] = state["A"], state.get("Joy", 0.0)
            assert dict(zip(names, w.tolist())) == pytest.approx(expect), blends
        # a sender that sends blink drives the lids: the idle blink stays off while it does
        assert all(world.step()[h].morph_weights[names.index("blink_l")] == 0.0 for _ in range(400))
