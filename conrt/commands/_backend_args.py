"""``--backend-opt KEY=VALUE`` (repeatable), shared by the commands that pick an
inference backend (not a command itself). The options reach the backend's
constructor (``create_backend(name, model, **options)``); a backend refuses
options it does not take, naming the ones it does."""
from __future__ import annotations

from conrt.errors import ConfigError


def add_backend_option_argument(p) -> None:
    p.add_argument("--backend-opt", action="append", default=[], metavar="KEY=VALUE", dest="backend_opt",
                   help="an option of the inference backend, repeatable: e.g. threads=2, fusion=torch (gl-lookup), "
                        "providers=CUDAExecutionProvider,CPUExecutionProvider (onnxruntime), precision=fp32 "
                        "(tensorrt); a wrong key names the valid ones")


def parse_backend_options(pairs) -> dict:
    """``["threads=2", "fusion=torch", "providers=A,B"]`` -> {"threads": 2, ...}:
    ints, floats, true/false and none as such, commas make lists, else strings."""
    def value(text: str):
        low = text.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        if low == "none":
            return None
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text.strip()

    out = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--backend-opt {pair!r} is not KEY=VALUE (e.g. threads=2)")
        out[key.strip()] = [value(v) for v in text.split(",")] if "," in text else value(text)
    return out


def backend_options(args) -> dict:
    return parse_backend_options(getattr(args, "backend_opt", None))
