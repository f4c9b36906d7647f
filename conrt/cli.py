"""The ``conrt`` command line. Subcommands live in ``conrt/commands/*.py``."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys

from conrt import __version__, commands
from conrt.errors import ConrtError

log = logging.getLogger("conrt")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conrt",
        description="CoNR neural deferred shading for anime characters.",
    )
    parser.add_argument("--version", action="version", version=f"conrt {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"conrt.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConrtError as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `conrt ... | head`: the reader left; no traceback for that
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
