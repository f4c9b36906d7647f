"""Weights: the official folder of four ``.pth`` files, and our single file.

- ``load_official(folder)``: ``udpparsernet.pth``, ``target_pose_encoder.pth``,
  ``shader.pth``, ``rgbadecodernet.pth`` read with
  ``torch.load(weights_only=True)`` and checked strictly (every key, every
  shape); a ``CheckpointError`` lists what is missing, unexpected or
  mismatched per file.
- ``save_weights`` / ``load_weights``: one safetensors file whose metadata
  holds the config (JSON), keys ``<part>.<official key>``.
- ``load_model(path)``: either of the two, by what ``path`` is.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import shutil
import zipfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conrt.errors import CheckpointError

from .. import defaults
from ..defaults import DEFAULT_WEIGHTS, WEIGHTS_DIR
from .architectures import get_architecture
from .config import CoNRConfig, get_config
from .conr_v1 import CoNR
from .model import ShaderNet, create_model

log = logging.getLogger(__name__)

FORMAT = "conrt-conr-v1"


def _shape(t) -> str:
    return "x".join(map(str, tuple(t.shape))) or "scalar"


def _empty_model(cfg: CoNRConfig) -> ShaderNet:
    # no storage (meta device): loading assigns the file's tensors, which skips
    # initialising 180M parameters only to overwrite them
    return create_model(cfg, empty=True)


def _is_meta(model: torch.nn.Module) -> bool:
    return next(model.parameters()).is_meta


def check_state_dict(module: torch.nn.Module, sd, where: str) -> None:
    """Raise CheckpointError naming every missing/unexpected/mismatched key (with shapes)."""
    if not isinstance(sd, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                           for k, v in sd.items()):
        raise CheckpointError(f"{where}: not a state dict (a dict of name -> tensor), got "
                              f"{type(sd).__name__}")
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    mismatched = [k for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        lines = [f"{where} does not match the model ({len(own)} keys expected, {len(sd)} found):"]
        lines += [f"  missing     {k} [{_shape(own[k])}]" for k in missing]
        lines += [f"  unexpected  {k} [{_shape(sd[k])}]" for k in unexpected]
        lines += [f"  mismatched  {k}: file [{_shape(sd[k])}], model [{_shape(own[k])}]" for k in mismatched]
        raise CheckpointError("\n".join(lines))


def _load_pth(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = str(exc).splitlines()
        why = next((ln.strip() for ln in lines if "Unsupported" in ln), lines[0] if lines else "")
        raise CheckpointError(f"{path}: refused by torch.load(weights_only=True) - not a plain "
                              f"state dict of tensors ({why})") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({exc})") from exc


def load_official(folder, config: "str | CoNRConfig" = "conr-paper") -> CoNR:
    """The official folder of four .pth files -> a CoNR model (eval mode)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a folder (expected the official four .pth files)")
    model = _empty_model(get_config(config))
    missing = [f"{p}.pth" for p in CoNR.PARTS if not (folder / f"{p}.pth").is_file()]
    if missing:
        raise CheckpointError(f"{folder}: missing {', '.join(missing)} (an official CoNR folder has "
                              f"{', '.join(p + '.pth' for p in CoNR.PARTS)})")
    sds = {}
    for part in CoNR.PARTS:
        path = folder / f"{part}.pth"
        sd = _load_pth(path)
        check_state_dict(getattr(model, part), sd, str(path))
        sds[part] = sd
    load_parts(model, sds)
    log.info("loaded official CoNR weights from %s", folder)
    return model.eval()


def load_parts(model: CoNR, parts: dict) -> CoNR:
    """Strictly load {part or 'part.pth': state dict} into ``model``."""
    for name, sd in parts.items():
        part = name[:-4] if name.endswith(".pth") else name
        if part not in CoNR.PARTS:
            raise CheckpointError(f"unknown part {name!r}; valid: {', '.join(CoNR.PARTS)}")
        check_state_dict(getattr(model, part), sd, name)
        sd = _float32_state(sd, name)
        getattr(model, part).load_state_dict(sd, strict=True, assign=_is_meta(getattr(model, part)))
    return model


# ---------------------------------------------------------------------------
# our single-file format
# ---------------------------------------------------------------------------
def save_weights(model: ShaderNet, path) -> Path:
    """Write ``model`` as one safetensors file with its config in the metadata."""
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": FORMAT, "config": model.cfg.to_json()})
    return path


def read_config(path) -> CoNRConfig:
    """The config embedded in one of our safetensors files."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{path}: no conrt config in the metadata (format {meta.get('format')!r}); "
                              "convert official weights with `conrt convert`")
    try:
        cfg = json.loads(meta["config"])
    except (json.JSONDecodeError, TypeError) as exc:
        raise CheckpointError(f"{path}: the config in the metadata is not JSON ({exc})") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path}: the config in the metadata is not a JSON object")
    try:
        return CoNRConfig.from_dict(cfg)
    except (TypeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: the config in the metadata is malformed ({exc})") from None


def load_weights(path, device: str = "cpu") -> ShaderNet:
    """Our safetensors file -> a CoNR model (eval mode) built from the embedded config."""
    cfg = read_config(path)
    model = _empty_model(cfg)
    sd = _read_tensors(Path(path))
    check_state_dict(model, sd, str(path))
    sd = _float32_state(sd, path)
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval().to(device)


# conr-rt's table-mode fusion net (``LookupConfig.table_fusion``): its keys' prefix, and where the
# file's description says what it holds (everything from there on is rewritten by add_table_fusion)
TABLE_FUSION = "table_fusion."
TABLE_NOTE = " Table mode: "


def add_table_fusion(weights, source, out, source_name: str | None = None) -> Path:
    """``weights`` (conr-rt) with a table-mode fusion net written to ``out`` (may be ``weights``):
    ``source``'s ``table_fusion.*`` when its config has one, else its ``fusion.*``, stored as
    ``table_fusion.*``, the config's ``lookup.table_fusion`` set and its description saying
    where the net came from (``source_name``, default the path). Every other tensor as in
    ``weights``; a table-mode net already there is replaced. Both files must hold the same
    sheet encoder (the table is binned from its UDP prediction: the net learned on its
    tables) and fusion nets of one layout."""
    weights, source, out = Path(weights), Path(source), Path(out)
    cfg, src_cfg = read_config(weights), read_config(source)
    for path, c in ((weights, cfg), (source, src_cfg)):
        if not getattr(get_architecture(c.architecture), "takes_views", False):  # conr-rt's FusionNet
            raise CheckpointError(f"{path}: holds {c.name!r} (architecture {c.architecture!r}); a table-mode "
                                  "fusion net goes with lookup-architecture weights (conr-rt)")
    sd, src = _read_tensors(weights), _read_tensors(source)
    encoder = sorted(k for k in sd if k.startswith("udpparsernet."))
    if encoder != sorted(k for k in src if k.startswith("udpparsernet.")) or \
            any(not torch.equal(sd[k], src[k]) for k in encoder):
        raise CheckpointError(f"{source}: its sheet encoder (udpparsernet.*) differs from {weights}'s; its fusion "
                              "net learned on another encoder's tables")
    prefix = TABLE_FUSION if src_cfg.lookup.table_fusion else "fusion."
    net = {TABLE_FUSION + k[len(prefix):]: v for k, v in src.items() if k.startswith(prefix)}
    layout = {TABLE_FUSION + k[len("fusion."):]: tuple(v.shape) for k, v in sd.items() if k.startswith("fusion.")}
    if {k: tuple(v.shape) for k, v in net.items()} != layout:
        raise CheckpointError(f"{source}: its fusion net ({src_cfg.name}) is not laid out as {weights}'s "
                              f"({cfg.name}): other widths or layers")
    tensors = {k: v for k, v in sd.items() if not k.startswith(TABLE_FUSION)} | net
    note = (f"{TABLE_NOTE}sheets without view/UDP files (the 32³ table of the predicted sheet UDP) are shaded by "
            f"table_fusion.*, {prefix}* of {source_name or source}; exact and udp-nn samples by fusion.*.")
    new = dataclasses.replace(cfg, description=cfg.description.split(TABLE_NOTE)[0] + note,
                              lookup=dataclasses.replace(cfg.lookup, table_fusion=True))
    tmp = out.with_name(out.name + ".part")
    save_file(tensors, str(tmp), metadata={"format": FORMAT, "config": new.to_json()})
    load_weights(tmp)  # strict: loads as the runtime loads it
    if out.exists():
        shutil.copymode(out, tmp)
    tmp.replace(out)
    return out


def _read_tensors(path: Path) -> dict:
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{path}: corrupt safetensors file ({exc})") from exc


def _float32_state(sd: dict, path) -> dict:
    """Tensors as the model computes in: half/bfloat16/float64 floats are converted
    (said once), integer or complex tensors and NaN/inf values are refused."""
    out, converted = {}, set()
    for k, v in sd.items():
        if not v.is_floating_point():
            raise CheckpointError(f"{path}: tensor {k} is {v.dtype}; CoNR weights are floating point")
        if v.dtype != torch.float32:
            converted.add(str(v.dtype).replace("torch.", ""))
            v = v.float()
        if not torch.isfinite(v).all():
            raise CheckpointError(f"{path}: tensor {k} contains NaN/inf: the weights are broken "
                                  "(a diverged training run?)")
        out[k] = v
    if converted:
        log.info("%s: converted %s weights to float32", path, "/".join(sorted(converted)))
    return out


def load_model(path, config: "str | CoNRConfig" = "conr-paper") -> ShaderNet:
    """A folder of official .pth files, or one of our .safetensors files."""
    path = Path(path)
    if path.is_dir():
        return load_official(path, config)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder")
    return load_weights(path)


def embedded_weights(name) -> Path | None:
    """``runtime/weights/<name>.safetensors`` if ``name`` is a bare name of one
    (``conr-default``, ``conr-rt-fast``), else None: lets ``--weights
    conr-rt-fast`` pick shipped weights wherever a path is taken."""
    name = str(name)
    if not name or Path(name).name != name or Path(name).suffix:
        return None
    path = WEIGHTS_DIR / f"{name}.safetensors"
    return path if path.is_file() else None


def find_weights(arg) -> Path:
    """What a ``--weights`` argument names: an existing file or folder, else
    the shipped weights of that name (``conr-rt-fast``), else the path as
    given (its loader then says it is missing). One rule for every command."""
    path = Path(arg)
    if path.exists():
        return path
    return embedded_weights(arg) or path


def list_embedded_weights() -> list[str]:
    """Names of the weights shipped in ``runtime/weights/``."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def shipped_weights_for(config_name: str) -> Path | None:
    """The shipped weights whose embedded config is ``config_name`` (each file
    names its config in its metadata; the file name is not trusted): the file
    of that name first, then the default model, then any other; None if none."""
    named, default = WEIGHTS_DIR / f"{config_name}.safetensors", DEFAULT_WEIGHTS
    others = sorted(p for p in WEIGHTS_DIR.glob("*.safetensors") if p not in (named, default))
    for path in (named, default, *others):
        if path.is_file() and read_config(path).name == config_name:
            return path
    return None


def resolve_model(weights=None, config: "str | CoNRConfig | None" = None, allow_untrained: bool = True) -> ShaderNet:
    """The model for ``--weights``/``--config``: the one resolver every command,
    the runtime and the bridge use (``model.conrt_description`` says what it is).

    ``weights``: a folder of official .pth files (``config`` names its config,
    default conr-paper), a .safetensors file, or shipped weights by name
    (``conr-rt-fast``). Without ``weights``: with no ``config`` the embedded
    default model, else the shipped weights holding that config; when those are
    missing (and ``allow_untrained``) a freshly initialised model (seed 0) of
    ``config``, else of ``defaults.FALLBACK_CONFIG``, with a loud warning.
    """
    if weights is not None:
        path = find_weights(weights)  # a path, or a shipped model by name, e.g. conr-rt-fast
        if not path.exists():
            raise CheckpointError(f"{path}: no such weights file or folder (give a .safetensors file from "
                                  "`conrt convert`/training, a folder of official .pth files, or the name "
                                  f"of shipped weights: {', '.join(list_embedded_weights())})")
        model = load_model(path, config or "conr-paper")
        if config is not None and not path.is_dir() and get_config(config).name != model.cfg.name:
            raise CheckpointError(f"{path} holds config {model.cfg.name!r}, not {get_config(config).name!r}")
        return _described(model, f"{model.cfg.name} from {path}")
    embedded = defaults.find_default_weights() if config is None else shipped_weights_for(get_config(config).name)
    if embedded is not None:
        model = load_weights(embedded)
        return _described(model, f"{model.cfg.name} (embedded {embedded.name})")
    name = get_config(config).name if config is not None else defaults.FALLBACK_CONFIG
    if not allow_untrained:
        raise CheckpointError(f"no weights given and no embedded weights for {name} (none of "
                              f"{', '.join(list_embedded_weights()) or 'no files'} in {WEIGHTS_DIR} holds it); "
                              "pass --weights (an official folder or a .safetensors file)")
    log.warning("untrained weights: no trained weights for %s were found (the embedded default is %s), so a "
                "freshly initialised (seed 0) model is used; frames will show noise-like colours, not the "
                "character's. Pass --weights to use trained ones.", name, defaults.DEFAULT_WEIGHTS)
    with torch.random.fork_rng():  # deterministic, without touching the caller's RNG
        torch.manual_seed(0)
        return _described(create_model(config if config is not None else name), f"{name} (UNTRAINED, random init)")


def _described(model: ShaderNet, desc: str) -> ShaderNet:
    model.conrt_description = desc  # open_runtime/bench/logs report where the model came from
    return model.eval()
