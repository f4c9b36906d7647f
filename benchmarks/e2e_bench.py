"""End-to-end runtime benchmark: fps and per-stage ms (physics, raster,
read-back, shading, output) at 128^2, 256^2 and 512^2 for the embedded model
(or, until it exists, an untrained conr-xs) and the sample character, plus the
shading-only speed-up of the chosen backend against the straightforward eager
PyTorch baseline measured in the same run. The work is
``conrt.runtime.profiling.measure`` (also behind ``conrt bench``).

Usage: python benchmarks/e2e_bench.py [--sizes 128,256,512] [--frames N] [--backend auto]
       [--json benchmarks/results/e2e.json]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="128,256,512")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "e2e.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from conrt.commands.bench import parse_sizes
    from conrt.runtime.profiling import measure

    t0 = time.time()
    result = measure(parse_sizes(args.sizes), args.frames, backend=args.backend)
    meta = {"machine": f"{platform.machine()} {platform.processor()} python {platform.python_version()}",
            "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "seconds": round(time.time() - t0, 1),
            "note": "shared 2-core CPU machine (no GPU, llvmpipe GL); absolute ms are load-dependent, "
                    "ratios within one run are comparable"}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "sizes": result}, indent=1))
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
