"""The eye score (``losses.eyes_kept``): a face that loses its eyes scores low, the plain exact
lookup of a turnaround sheet keeps them (#15: "eyes visible in every face crop").

A procedural character's eye pixels are where a frame differs from the same frame drawn with
the painted eyes left off its face texture (``painted_eyes=False``, the same mesh); a pixel is
kept when the prediction lies within half the eye's contrast (ground truth - eyeless) of the
ground truth. So the thresholds below come from the rule, not from a run: the ground truth
scores 1 and its eyeless twin exactly 0; a prediction that keeps the eyes keeps most of their
pixels (more than half), one whose eye region is a skin fill or a flat colour fewer than half.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conrt.characters.procedural import generate
from conrt.cli import main
from conrt.training.dataset import rgba_to_premul
from conrt.training.evaluate import (FlatColourBaseline, PlainLookup, characters_from_seeds, evaluate,
                                     head_landmark_box, head_pixel_box, view_samples,
                                     view_samples_per_count)
from conrt.training.losses import EYE_MIN_PIXELS, eye_pixels, eyes_kept

SEED, SIZE, CLIP = 900000, 128, 6


@pytest.fixture(scope="module")
def character():
    return characters_from_seeds([SEED], CLIP, SIZE, progress=False, sheet_poses="turnaround", sheet_views=4,
                                 eyeless=True)[0]


def _frames(c):
    return rgba_to_premul(c.rgba), rgba_to_premul(c.eyeless)


def test_eyeless_frames_differ_only_at_the_eyes(character):
    c = character
    assert c.eyeless.shape == c.rgba.shape
    target, eyeless = _frames(c)
    front = c.sheet[0]  # the turnaround's front view: both eyes face the camera
    eyes = eye_pixels(target, eyeless)
    assert int(eyes[front].sum()) >= EYE_MIN_PIXELS
    np.testing.assert_array_equal(c.rgba[..., 3], c.eyeless[..., 3])  # the same mesh: the same silhouette
    box = head_landmark_box(generate(SEED))
    for f in range(c.rgba.shape[0]):  # every eye pixel inside the head's box (the face score's)
        y0, y1, x0, x1 = head_pixel_box(torch.from_numpy(c.udp[f].astype(np.float32)).permute(2, 0, 1), box)
        outside = eyes[f].clone()
        outside[y0:y1, x0:x1] = False
        assert not outside.any(), f
    back = c.sheet[2]  # the back view shows no eyes: no eye score
    score, count = eyes_kept(target[back:back + 1], target[back:back + 1], eyeless[back:back + 1])
    assert int(count[0]) < EYE_MIN_PIXELS and torch.isnan(score[0])


def test_ground_truth_keeps_the_eyes_a_blank_face_none(character):
    target, eyeless = _frames(character)
    front = slice(character.sheet[0], character.sheet[0] + 1)
    assert float(eyes_kept(target[front], target[front], eyeless[front])[0][0]) == 1.0
    assert float(eyes_kept(eyeless[front], target[front], eyeless[front])[0][0]) == 0.0
    # the eye region filled with the face's skin colour (the ground truth's most common head colour)
    eyes = eye_pixels(target[front], eyeless[front])[0]
    skin = eyeless[front][0][:, eyes].mean(1)
    filled = target[front].clone()
    filled[0][:, eyes] = skin[:, None]
    assert float(eyes_kept(filled, target[front], eyeless[front])[0][0]) < 0.5


def test_plain_exact_lookup_keeps_the_eyes_flat_fill_does_not(character):
    """The plain exact lookup shades the clip frame that shows the most eyes from the four
    turnaround views (the runtime's correspondence pass); the same frame with its eye pixels
    replaced by the eyeless colours is the face that lost its eyes."""
    c = character
    target, eyeless = _frames(c)
    counts = eye_pixels(target[:CLIP], eyeless[:CLIP]).sum((1, 2))
    t = int(counts.argmax())
    assert int(counts[t]) >= EYE_MIN_PIXELS, counts.tolist()
    job = (0, t, np.asarray(c.sheet))
    sampled, cover, _ = view_samples([c], [job], 4, "exact", SIZE, progress=False)[0]
    sheet = rgba_to_premul(c.rgba[list(c.sheet)])[None]
    udp = torch.from_numpy(c.udp[t].astype(np.float32)).permute(2, 0, 1)[None]
    args = (sheet[:, :, :3], sheet[:, :, 3:4], udp)
    lookup = PlainLookup(SIZE)(*args, sampled=sampled[None].float(), cover=cover[None].float())
    flat = FlatColourBaseline(SIZE)(*args)
    truth, blank = target[t:t + 1], eyeless[t:t + 1]
    kept = float(eyes_kept(lookup, truth, blank)[0][0])
    assert kept > 0.5, kept
    lost = torch.where(eye_pixels(truth, blank)[:, None], blank, lookup)  # the lookup with a blank eye region
    assert float(eyes_kept(lost, truth, blank)[0][0]) == 0.0
    assert float(eyes_kept(flat, truth, blank)[0][0]) < 0.5


def test_evaluate_and_conrt_eval_report_the_eye_score(character, capsys):
    table, grids = evaluate(FlatColourBaseline(SIZE), [character], views=(1,), targets=CLIP, progress=False,
                            size=SIZE)
    row = table["n=1"]
    assert row["eye_samples"] == int((~torch.isnan(grids[1]["eyes_kept"])).sum()) >= 1
    assert 0.0 <= row["eyes_kept"] < 0.5
    assert main(["eval", "--seeds", f"{SEED}:{SEED + 1}", "--poses", "3", "--views", "1", "--targets", "3",
                 "--size", "64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    tables = [out] if "n=1" in out else list(out.values())  # one table per label (the default's look)
    assert tables and all("eye_samples" in t["n=1"] for t in tables)


def test_each_view_count_gets_the_samples_of_its_own_sheet(character):
    """A job's samples of one view are the one-view sheet's, not the first view cut out of the
    four-view sheet's: there the light agreement lowered the front view's cover where another view
    drew the point in the target's tone band (a toon turnaround: judged inked, so lit)."""
    c = character
    job = (0, 0, np.asarray(c.sheet))
    per_count = view_samples_per_count([c], [job], (4, 1), "exact", SIZE, progress=False)
    assert sorted(per_count) == [1, 4]
    one, four = per_count[1][0], per_count[4][0]
    assert one[0].shape[0] == 1 and four[0].shape[0] == 4
    assert (four[1][:1].float() < one[1].float() - 0.1).any()
