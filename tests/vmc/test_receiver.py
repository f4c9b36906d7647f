"""VMC in and out over real loopback UDP: python-osc senders in other processes,
our receiver, our sender read back by our receiver, the physics world on top."""
from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

from conrt.errors import ConfigError
from conrt.physics.clips import Animator, get_clip
from conrt.physics.vmc import (HUMANOID_TO_VMC, UNITY_BONES, VMC_TO_HUMANOID, VmcReceiver, VmcSender,
                               parse_address, unity_rotation)
from conrt.types import HUMANOID_BONES

from .conftest import BAD_SENDER, SENDER, spawn, wait_until

# OSC carries float32: a position of ~1 m round-trips to ~1e-7 m, and a chain of
# ~8 rotations each rounded to 2^-24 moves a hand by well under 1e-5 m.
POS_TOL = 1e-5


def _humanoid_positions(character, pose):
    idx = sorted(character.humanoid.values())
    return pose.joint_world[idx, :3, 3].astype(np.float64)


def test_unity_bone_names_map_onto_every_humanoid_bone():
    # through the BVH name table (bvh.humanoid_map): Unity's names are VRM's, capitalised
    assert set(VMC_TO_HUMANOID.values()) == set(HUMANOID_BONES)
    for h in HUMANOID_BONES:
        assert VMC_TO_HUMANOID[h[0].upper() + h[1:]] == h
    assert HUMANOID_TO_VMC["leftUpperArm"] == "LeftUpperArm"
    assert "LeftThumbProximal" in UNITY_BONES and "LeftThumbProximal" not in VMC_TO_HUMANOID


@pytest.mark.parametrize("text, host, port", [("39539", "127.0.0.1", 39539), ("0.0.0.0:40000", "0.0.0.0", 40000),
                                              ("localhost:0", "localhost", 0), ("[::1]:39539", "::1", 39539)])
def test_addresses(text, host, port):
    assert parse_address(text) == (host, port)


@pytest.mark.parametrize("text, words", [("70000", "outside"), ("abc", "must be an integer"),
                                         ("no.such.host.invalid:1", "unknown host"), ("", "must be an integer")])
def test_bad_addresses_are_named(text, words):
    with pytest.raises(ConfigError, match=words):
        parse_address(text)


def test_sender_needs_a_host():
    from conrt.physics.stick import stick_character

    with pytest.raises(ConfigError, match="HOST:PORT"):
        VmcSender("39539", stick_character())


def test_a_port_in_use_is_a_clear_error(receiver):
    with pytest.raises(ConfigError, match=f"cannot listen for VMC on 127.0.0.1:{receiver.port}"):
        VmcReceiver(f"127.0.0.1:{receiver.port}")


@pytest.mark.parametrize("which", ["sample", "girl"])
def test_round_trip_sender_to_receiver(which, request, receiver):
    """Our sender's datagrams read back by our receiver give the sent pose back
    (the sample glb has imported joint frames, the girl axis-aligned ones)."""
    character = request.getfixturevalue(which)
    anim = Animator(character, get_clip("dance", character))
    live = Animator(character, receiver.motion(character))
    with VmcSender(f"127.0.0.1:{receiver.port}", character) as tx:
        sent = 0
        for k, t in enumerate((0.4, 1.3, 2.2)):
            pose = anim.pose(t)
            sent += tx.send(pose, t, blends={"Blink": 0.25 * k, "A": 1.0})
            assert wait_until(lambda: receiver.stats.applied == sent)  # every datagram of the frame
            assert receiver.latest().time == pytest.approx(t, abs=1e-6)
            got = live.pose(0.0)
            err = np.abs(_humanoid_positions(character, got) - _humanoid_positions(character, pose)).max()
            assert err < POS_TOL, (t, err)
            assert receiver.latest().blends == pytest.approx({"Blink": 0.25 * k, "A": 1.0})
    assert receiver.stats.dropped_total == 0


def test_a_python_osc_process_streaming_a_bvh_walk_drives_the_physics(sample, receiver, assets_dir):
    """A sender process streams a retargeted BVH walk (and blinks) at 60 Hz; the
    physics world follows it: every stepped pose is the clip's pose at the sender
    time it reports, the hair swings on top, blinks arrive."""
    from conrt.physics.bvh import bvh_to_clip, load_bvh
    from conrt.physics.world import PhysicsWorld

    bvh = assets_dir / "bvh" / "cmu_npybvh_example.bvh"
    clip = bvh_to_clip(load_bvh(bvh), sample)
    anim = Animator(sample, clip)
    proc = spawn(SENDER, "--port", receiver.port, "--bvh", bvh, "--fps", 60, "--seconds", 4, "--blink", 0.5)
    try:
        assert receiver.wait(60) is not None, proc.stderr.read() if proc.poll() is not None else "no packets"
        motion = receiver.motion(sample)
        seen_t, blinks, hair_moves = set(), set(), []
        hair = [r.chain[-1] for r in sample.regions if r.kind == "hair"]
        with PhysicsWorld(fps=60) as world:
            h = world.add(sample, motion)
            rest_hair = world.step()[h].joint_world[hair, :3, 3] - world.step()[h].joint_world[
                sample.humanoid["head"], :3, 3]
            for _ in range(90):
                time.sleep(1 / 60)
                pose = world.step()[h]
                frame = motion.last
                ref = anim.pose(round(frame.time * 60) / 60)  # the sender's exact time (T went as float32)
                err = np.abs(_humanoid_positions(sample, pose) - _humanoid_positions(sample, ref)).max()
                assert err < POS_TOL, (frame.time, err)
                seen_t.add(round(frame.time, 4))
                blinks.add(frame.blends.get("Blink"))
                rel = pose.joint_world[hair, :3, 3] - pose.joint_world[sample.humanoid["head"], :3, 3]
                hair_moves.append(np.abs(rel - rest_hair).max())
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read()
    assert len(seen_t) >= 10  # the pose moved on with the stream
    assert {0.0, 1.0} <= blinks
    assert max(hair_moves) > 0.01  # hair is simulated, not glued to the head
    assert receiver.stats.dropped_total == 0


def test_malformed_packets_are_counted_and_dropped_and_a_flood_does_not_stall(girl, receiver):
    from conrt.physics.world import PhysicsWorld

    motion = receiver.motion(girl)
    arm = girl.humanoid["leftUpperArm"]
    with PhysicsWorld(fps=60) as world:
        h = world.add(girl, motion)
        proc = spawn(BAD_SENDER, receiver.port, "--flood", 10000)
        steps = []
        # the frame loop keeps stepping while the packets come in
        while proc.poll() is None:
            world.step()
            steps.append(time.perf_counter())
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        sent = json.loads(out)
        assert wait_until(lambda: receiver.latest() is not None and receiver.latest().time == pytest.approx(
            sent["last_t"], abs=1e-4), timeout=10), receiver.stats_line()
        pose = world.step()[h]
    d = receiver.stats.dropped
    for kind in ("wrong_args", "unknown_bone", "not_finite", "out_of_range", "malformed"):
        assert d.get(kind) == sent[kind], (kind, receiver.stats_line())
    assert sent["malformed"] >= 4  # truncated and garbage datagrams python-osc rejects
    assert d.get("flood", 0) > 0
    assert receiver.stats.datagrams >= sent["flood"] * 0.5  # the kernel may drop some on a busy machine
    assert receiver._thread.is_alive()
    # the newest flood frame won: LeftUpperArm turned by 0.5 + 9999e-4 rad about Unity's Z
    angle = 0.5 + (sent["flood"] - 1) * 1e-4
    q = unity_rotation([0, 0, np.sin(angle / 2), np.cos(angle / 2)])
    r = pose.joint_world[arm, :3, :3].astype(np.float64) @ girl.skeleton.rest_world[arm, :3, :3].T
    expect = np.array([[np.cos(angle), np.sin(angle), 0], [-np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    assert np.abs(r - expect).max() < 1e-4, (q, r)
    # the loop stepped throughout: no gap longer than a second between two steps
    gaps = np.diff(steps)
    assert len(steps) > 10 and gaps.max() < 1.0, (len(steps), gaps.max())


def test_stopped_packets_hold_the_pose_say_so_once_and_resume(girl, receiver, caplog):
    anim = Animator(girl, get_clip("wave", girl))
    live = Animator(girl, receiver.motion(girl))
    with VmcSender(f"127.0.0.1:{receiver.port}", girl) as tx, caplog.at_level(logging.INFO, "conrt.physics.vmc"):
        sent = 0
        for k in range(5):
            sent += tx.send(anim.pose(0.5 + k / 30), 0.5 + k / 30)
            time.sleep(1 / 30)
        assert wait_until(lambda: receiver.stats.applied == sent)
        held = live.pose(0.0)
        assert wait_until(lambda: not receiver.receiving, timeout=10)
        time.sleep(0.8)  # well past the 0.3 s timeout, several silence checks
        assert not receiver.latest().live
        assert np.array_equal(live.pose(0.0).joint_world, held.joint_world)  # held
        stops = [r for r in caplog.records if "holding the last pose" in r.getMessage()]
        assert len(stops) == 1
        sent += tx.send(anim.pose(2.0), 2.0)
        assert wait_until(lambda: receiver.stats.applied == sent)
        assert receiver.receiving and receiver.latest().time == pytest.approx(2.0)
        # the receiver logs after it counts the packet (outside its lock): wait for the line
        assert wait_until(lambda: any("again" in r.getMessage() for r in caplog.records))
        err = np.abs(_humanoid_positions(girl, live.pose(0.0)) - _humanoid_positions(girl, anim.pose(2.0))).max()
        assert err < POS_TOL
    assert receiver.stats.gaps == 1


def test_reordered_older_frames_are_dropped_a_restarted_sender_is_followed(girl, receiver):
    anim = Animator(girl, get_clip("wave", girl))
    with VmcSender(f"127.0.0.1:{receiver.port}", girl) as tx:
        tx.send(anim.pose(2.0), 2.0)
        assert wait_until(lambda: receiver.latest() is not None and receiver.latest().time == 2.0)
        n = len(tx.bundles(anim.pose(1.9), 1.9))
        tx.send(anim.pose(1.9), 1.9)  # arrives late: older than what is shown
        assert wait_until(lambda: receiver.stats.dropped.get("stale") == n)
        assert receiver.latest().time == 2.0
        tx.send(anim.pose(0.1), 0.1)  # more than a second back: the sender restarted
        assert wait_until(lambda: receiver.latest().time == pytest.approx(0.1))


def test_before_the_first_packet_the_character_stands_in_its_rest_pose(girl, receiver):
    from conrt.characters.posing import rest_pose

    got = Animator(girl, receiver.motion(girl)).pose(0.0)
    assert np.allclose(got.joint_world, rest_pose(girl).joint_world, atol=1e-6)
    assert receiver.latest() is None and not receiver.receiving


def test_a_new_stream_restarts_hair_and_cloth_on_its_pose(girl, receiver):
    """The first packets (and packets after a gap) may put the body far from where it
    stood: cloth and hair restart on the new pose instead of being flung (and
    reset by the blow-up check)."""
    from conrt.runtime.app.frame_loop import PhysicsStage

    anim = Animator(girl, get_clip("walk", girl))
    stage = PhysicsStage(girl, fps=60, live=receiver.motion(girl))
    try:
        stage.step()  # rest pose: nothing received yet
        with VmcSender(f"127.0.0.1:{receiver.port}", girl) as tx:
            sent = tx.send(anim.pose(6.0), 6.0)  # metres away from the rest position
            assert wait_until(lambda: receiver.stats.applied == sent)
            for _ in range(3):
                pose = stage.step()
        assert stage.world.resets(stage.handle) == 0
        hips = girl.humanoid["hips"]
        assert np.abs(pose.joint_world[hips, :3, 3] - anim.pose(6.0).joint_world[hips, :3, 3]).max() < POS_TOL
        assert receiver.streams == 1
    finally:
        stage.close()


def test_localhost_means_one_address_to_both_ends(girl):
    with VmcReceiver("localhost:0") as rx, VmcSender(f"localhost:{rx.port}", girl) as tx:
        sent = tx.send(Animator(girl, get_clip("idle", girl)).pose(0.0), 0.0)
        assert wait_until(lambda: rx.stats.applied == sent)
