"""conrt.runtime: the CoNR network (paper-exact and small configs), weights,
the preloaded character sheet and the inference backends.

    model = load_model("official_dir_or.safetensors")
    cache = encode_sheet(model, [rgba_u8, ...])      # once per character
    rgba = shade(model, udp_hw4, cache)              # per frame, premultiplied
"""
from .nn.checkpoint import load_model, load_official, load_weights, resolve_model, save_weights
from .nn.config import CoNRConfig, get_config, list_configs
from .nn.conr_v1 import CoNR
from .nn.model import ShaderNet, architecture_names, create_model, register_model
from .nn.sheet import SheetCache, encode_sheet, read_sheet_image, read_udp, shade

__all__ = [
    "CoNR", "CoNRConfig", "ShaderNet", "SheetCache", "architecture_names", "create_model", "register_model", "encode_sheet", "get_config", "list_configs",
    "load_model", "load_official", "load_weights", "read_sheet_image", "read_udp", "resolve_model",
    "save_weights", "shade",
]
