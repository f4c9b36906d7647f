"""Training and evaluation on the samples the runtime's exact correspondences
give (`conrt data make --exact`, `conrt train` on them, `conrt eval
--correspondence`): real procedural characters, the real GL pass."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from conrt.cli import main
from conrt.errors import ConfigError
from conrt.runtime.nn.checkpoint import load_weights, save_weights
from conrt.runtime.defaults import default_weights_path
from conrt.training.datagen import DataSpec
from conrt.training.dataset import SheetDataset, load_split, rgba_to_premul
from conrt.training.evaluate import PlainLookup
from conrt.training.trainer import TrainConfig, train


def _premul(c, t):
    return rgba_to_premul(c.rgba[t]).numpy()


def test_exact_data_stores_every_pair_and_a_pose_sampled_from_itself_is_its_own_image(tiny_exact_data):
    chars = load_split(tiny_exact_data, "train") + load_split(tiny_exact_data, "test")
    assert {c.style for c in chars} <= {"toon", "unlit"}
    for c in chars:
        assert c.sampled.shape == (4, 4, 4, 64, 64) and c.cover.shape == (4, 4, 64, 64)
        assert c.gbuf.shape == (4, 2, 64, 64)  # each frame's G-buffer: where the fusion draws its lines
        for t in range(4):
            seen = c.cover[t, t] > 127
            occupied = c.udp[t, ..., 3] > 0.5
            assert np.array_equal(c.gbuf[t, 0] > 0, occupied) and np.array_equal(c.gbuf[t, 1] >= 0, occupied)
            # a view posed and framed as the frame sees all of it, and gives its own pixels back
            assert seen[occupied].mean() > 0.95 and not seen[~occupied].any()
            got = c.sampled[t, t].astype(np.float32).transpose(1, 2, 0) / 255
            assert np.abs(got - _premul(c, t).transpose(1, 2, 0))[seen].max() < 0.02


def test_unlit_views_carry_the_frames_colours_where_they_see_the_point(tiny_exact_data):
    """An unlit look does not change with the pose: another pose's samples,
    where the depth test says that view sees the point, are the frame's own
    colours (up to resampling at edges); the toon look moves its lighting."""
    chars = load_split(tiny_exact_data, "train") + load_split(tiny_exact_data, "test") \
        + load_split(tiny_exact_data, "val")
    errors = {}
    for c in chars:
        for t in range(4):
            want = _premul(c, t).transpose(1, 2, 0)
            for v in range(4):
                seen = c.cover[t, v] > 127
                if v == t or seen.sum() < 50:
                    continue
                got = c.sampled[t, v].astype(np.float32).transpose(1, 2, 0) / 255
                errors.setdefault(c.style, []).append(float(np.median(np.abs(got - want)[seen])))
    assert "unlit" in errors
    assert np.mean(errors["unlit"]) < 0.01, errors


def test_dataset_gives_the_stored_samples_of_the_chosen_views(tiny_exact_data):
    chars = load_split(tiny_exact_data, "train")
    ds = SheetDataset(chars, views=2, augment=None)
    assert ds.exact
    s = ds.sample(1, key=5)
    assert s["sampled"].shape == (2, 4, 64, 64) and s["cover"].shape == (2, 1, 64, 64)
    # the sheet views' own images are what the samples came from: a view's
    # samples at its own pose are its image; here check the samples' alpha
    # lies inside the target's silhouette (they are at the target's pixels)
    assert float((s["sampled"][:, 3] * (1 - s["udp"][3])).abs().max()) == 0.0
    assert float((s["cover"][:, 0] * (1 - s["udp"][3])).abs().max()) == 0.0


def test_fine_tuning_on_exact_samples_trains_only_the_fusion(tiny_exact_data, tmp_path):
    cfg = TrainConfig(config="conr-rt", data=str(tiny_exact_data), out=str(tmp_path / "run"), steps=3, batch=2,
                      views=2, size=64, val_every=100, val_characters=1, log_every=1, warmup=1, lr=1e-3,
                      init=str(default_weights_path()), table_mix=0.5)
    result = train(cfg, progress=False)
    before = load_weights(default_weights_path()).state_dict()
    after = result["model"].state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if k.startswith("udpparsernet."))
    assert any(not torch.equal(after[k], v) for k, v in before.items() if k.startswith("fusion."))
    with pytest.raises(ConfigError, match="table-mix"):
        train(dataclasses.replace(cfg, out=str(tmp_path / "bad"), table_mix=1.5), progress=False)


def test_plain_lookup_averages_the_views_that_see_the_point():
    udp = torch.zeros(1, 4, 2, 2)
    udp[:, 3] = 1
    sampled = torch.stack([torch.full((1, 4, 2, 2), 0.2), torch.full((1, 4, 2, 2), 0.6)], 1)
    sampled[:, :, 3] = 1
    cover = torch.ones(1, 2, 1, 2, 2)
    cover[:, 1, :, 0, 0] = 0  # the second view does not see pixel (0, 0)
    sheet_rgb, sheet_mask = torch.zeros(1, 2, 3, 2, 2), torch.ones(1, 2, 1, 2, 2)
    out = PlainLookup(2)(sheet_rgb, sheet_mask, udp, sampled=sampled, cover=cover)
    assert torch.allclose(out[0, :3, 0, 0], torch.full((3,), 0.2))
    assert torch.allclose(out[0, :3, 1, 1], torch.full((3,), 0.4))
    cover[:] = 0  # nobody sees anything: the flat fill (mean sheet colour 0 here)
    out = PlainLookup(2)(sheet_rgb, sheet_mask, udp, sampled=sampled, cover=cover)
    assert torch.allclose(out[0, :3], torch.zeros(3, 2, 2)) and torch.equal(out[0, 3], udp[0, 3])


def test_eval_correspondence_rows_and_bad_choices(tiny_exact_data, tiny_data, tmp_path, capsys, caplog):
    w = tmp_path / "rt.safetensors"
    save_weights(load_weights(default_weights_path()), w)
    assert main(["eval", "--weights", str(w), "--data", str(tiny_exact_data), "--views", "1,3", "--targets", "2",
                 "--size", "64", "--baseline", "--keep-seen", "both", "--json"]) == 0  # auto -> exact
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"rt (exact, look: unlit)", "rt (exact, refined everywhere)", "flat-colour-baseline",
                        "plain exact lookup"}
    for row in out.values():
        assert set(row) == {"n=1", "n=3"} and row["n=3"]["samples"] == 2
    assert out["plain exact lookup"]["n=3"]["l1"] < out["flat-colour-baseline"]["n=3"]["l1"]
    assert out["rt (exact, look: unlit)"]["n=3"]["l1"] != out["rt (exact, refined everywhere)"]["n=3"]["l1"]
    # a dataset without the samples has no cameras: exact is a named error, not a fall back to the table
    assert main(["eval", "--weights", str(w), "--data", str(tiny_data), "--views", "1",
                 "--correspondence", "exact"]) == 1
    assert "data make --exact" in caplog.text
    assert main(["eval", "--weights", str(w), "--data", str(tiny_exact_data), "--views", "1",
                 "--correspondence", "udp-nn"]) == 1
    assert "--seeds" in caplog.text


def test_eval_seeds_udp_nn_and_exact_on_the_same_frames(capsys):
    rows = {}
    for mode in ("exact", "udp-nn"):
        assert main(["eval", "--seeds", "900000:900001", "--poses", "4", "--views", "3", "--targets", "1",
                     "--size", "64", "--style", "unlit", "--correspondence", mode, "--baseline", "--json"]) == 0
        rows[mode] = json.loads(capsys.readouterr().out)
    # same frames: the flat fill scores the same; unlit sheets: the plain lookup is far better than flat
    assert rows["exact"]["flat-colour-baseline"] == rows["udp-nn"]["flat-colour-baseline"]
    for mode, out in rows.items():
        assert out[f"plain {mode} lookup"]["n=3"]["l1"] < 0.6 * out["flat-colour-baseline"]["n=3"]["l1"]


def test_exact_data_spec_limits():
    with pytest.raises(ConfigError, match="--poses"):
        DataSpec(characters=1, poses=9, size=64, exact=True).validate()
    with pytest.raises(ConfigError, match="antialias"):
        DataSpec(characters=1, poses=4, size=64, exact=True, antialias=3).validate()


def test_render_views_keeps_seen_colours_as_the_weights_config_says(tmp_path):
    """`lookup.keep_seen` travels in the weights file: the shipped weights
    (trained on the table) keep the views' colours where they see the point,
    weights fine-tuned on exact samples may refine everywhere."""
    model = load_weights(default_weights_path()).eval()
    g = torch.Generator().manual_seed(0)
    udp = torch.zeros(1, 4, 32, 32)
    udp[:, :3] = torch.linspace(0.3, 0.5, 32)  # a smooth surface: no target edges inside
    udp[:, 3] = 1
    sampled, cover = torch.rand(1, 2, 4, 32, 32, generator=g), torch.ones(1, 2, 1, 32, 32)
    with torch.no_grad():
        kept = model.fusion(sampled, cover, model.encode_pose(udp)[0], keep_seen=True)
        refined = model.fusion(sampled, cover, model.encode_pose(udp)[0], keep_seen=False)
        assert not torch.equal(kept, refined)
        assert model.cfg.lookup.keep_seen and torch.equal(model.render_views(udp, sampled, cover), kept)
        off = dataclasses.replace(model.cfg, lookup=dataclasses.replace(model.cfg.lookup, keep_seen=False))
        model.cfg = off
        save_weights(model, tmp_path / "off.safetensors")
        again = load_weights(tmp_path / "off.safetensors").eval()
        assert not again.cfg.lookup.keep_seen and torch.equal(again.render_views(udp, sampled, cover), refined)


def test_exact_data_weighs_an_inked_sheets_contours_as_the_runtime_does():
    """The runtime hands the correspondence pass the sheet's judged look
    (``set_sheet(inked=...)``: an inked sheet's contour texels count less);
    `data make --exact` stores what that same pass gives for the character's
    own judged look. Before session 11 it stored every sheet as unlit."""
    from conrt.characters.procedural import generate
    from conrt.training.datagen import Renderer, render_character, sheet_look

    with Renderer(64, "toon") as r:
        c = render_character(r, 11, 4, exact=True)
        assert sheet_look(c.rgba, c.udp).inked  # the toon look is judged inked
        character = generate(11)
        differs = 0
        for t in range(4):
            want = {inked: r.view_samples(character, c, t, range(4), inked=inked) for inked in (True, False)}
            for inked, (smp, cov, _) in want.items():
                same = (np.abs(c.cover[t].astype(np.float32) - np.rint(np.clip(cov[:, 0], 0, 1) * 255)).max() == 0
                        and np.abs(c.sampled[t].astype(np.float32) - np.rint(np.clip(smp, 0, 1) * 255)).max() == 0)
                assert same == inked, (t, inked)
            differs += int((want[True][1] != want[False][1]).sum())
        assert differs > 0  # the contour weights did change the samples


def test_dataset_gives_each_characters_look_as_the_runtime_judges_it(tiny_exact_data):
    chars = [c for split in ("train", "val", "test") for c in load_split(tiny_exact_data, split)]
    assert {c.style for c in chars} == {"toon", "unlit"}
    ds = SheetDataset(chars, views=2, augment=None)
    for i, c in enumerate(ds.characters):
        ink, shaded = ds.look(i)
        assert ink == float(c.style == "toon")  # toon: inked; unlit: not (shaded or unlit by its light)
        assert not (ink and shaded)
        s = ds.sample(i * ds.poses, key=1)
        assert (float(s["ink"]), float(s["shaded"])) == (ink, shaded)


def test_fine_tuning_shades_exact_samples_as_the_runtime_does(tiny_exact_data):
    """The loss sees what the runtime shows: ``LookupNet.render_views`` with the
    weights' keep_seen and the sheet's look, clipped to the target's occupancy;
    --refine-everywhere (session 5's recipe) the refinement on every pixel."""
    from conrt.training.trainer import _TrainNet

    model = load_weights(default_weights_path()).eval()
    chars = [c for split in ("train", "val", "test") for c in load_split(tiny_exact_data, split)]
    ds = SheetDataset(chars, views=2, augment=None)
    b = ds.batch(range(0, len(ds), 2), key=3)
    assert 0 < float(b["ink"].sum()) < len(b["ink"])  # toon and unlit sheets
    views = {k: b[k] for k in ("sampled", "cover", "ink", "shaded", "gbuf")}  # the G-buffer: the lines
    with torch.no_grad():
        runtime = model.render_views(b["udp"], b["sampled"], b["cover"], b["ink"], b["shaded"],
                                     b["gbuf"]) * b["udp"][:, 3:4]
        assert not torch.equal(runtime, model.render_views(b["udp"], b["sampled"], b["cover"], b["ink"],
                                                           b["shaded"]) * b["udp"][:, 3:4])
        got = _TrainNet(model, False, true_tables=True)(b["sheet_rgb"], b["sheet_mask"], b["udp"], **views)[0]
        assert torch.equal(got, runtime)
        everywhere = _TrainNet(model, False, true_tables=True, runtime_rules=False)(
            b["sheet_rgb"], b["sheet_mask"], b["udp"], **views)[0]
        assert torch.equal(everywhere, model.fusion(b["sampled"], b["cover"], model.encode_pose(b["udp"])[0]))
        assert not torch.equal(everywhere, runtime)


def test_fine_tuning_draws_from_several_folders_each_at_its_own_size(tiny_exact_data, tiny_data, tmp_path):
    small = tmp_path / "exact32"
    from conrt.training.datagen import make_dataset

    make_dataset(small, dataclasses.replace(DataSpec(characters=2, poses=4, size=32, seed=5, shard_size=2,
                                                     val=0.5, test=0.0, exact=True)), progress=False)
    cfg = TrainConfig(config="conr-rt", data=(str(tiny_exact_data), str(small)), out=str(tmp_path / "run"),
                      steps=4, batch=2, views=2, size=64, val_every=2, val_characters=1, log_every=1, warmup=1,
                      init=str(default_weights_path()), table_mix=0.0)
    result = train(cfg, progress=False)
    assert result["step"] == 4 and result["val"] is not None
    info = json.loads((tmp_path / "run" / "train.json").read_text())
    assert info["sizes"] == [64, 32] and info["train"]["data"] == [str(tiny_exact_data), str(small)]
    drawn = {int(np.random.default_rng([cfg.seed, 13, s]).integers(2)) for s in range(4)}
    assert drawn == {0, 1}  # both folders were trained on
    with pytest.raises(ConfigError, match="exact samples"):
        train(dataclasses.replace(cfg, data=(str(tiny_exact_data), str(tiny_data)), out=str(tmp_path / "bad")),
              progress=False)


def test_train_cli_takes_several_folders_and_refine_everywhere(tiny_exact_data, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--config", "conr-rt", "--data", str(tiny_exact_data), str(tiny_exact_data), "--size", "64",
                 "--batch", "2", "--views", "2", "--steps", "1", "--val-every", "1", "--table-mix", "0",
                 "--init", str(default_weights_path()), "--refine-everywhere", "--out", str(out)]) == 0
    info = json.loads((out / "train.json").read_text())["train"]
    assert info["data"] == [str(tiny_exact_data)] * 2 and info["runtime_rules"] is False
