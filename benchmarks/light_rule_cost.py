"""What the light agreement costs the runtime's raster stage (#15, session 15: s15-lightgl).

One process, the default runtime (the sample character and its exact sheet, 256², the UDP pass's
visibility buffer): the correspondence pass's sheet set with the rule off and on in turn
(``CorrespondencePass.set_sheet(lit=)``, the same views and reference), interleaved rounds of the
same frames; per round the process CPU ms per frame of the raster stage as the frame loop runs it
(``RasterStage.render`` + ``read_views``: UDP pass, correspondence pass, read-back), llvmpipe's
threads included. ``conrt bench`` / ``benchmarks/e2e_ab.py`` give the whole frame's.

Usage: python benchmarks/light_rule_cost.py [--size 256] [--frames 20] [--rounds 4] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from conrt.runtime.app.frame_loop import RuntimeSpec, build_runtime  # lazy: after the arguments
    from conrt.shaders import correspondence_pass as cpm  # lazy: as above

    calls = []
    original = cpm.CorrespondencePass.set_sheet

    def recorded(self, *a, **k):  # the runtime's own set_sheet arguments, to set the sheet again
        calls.append((a, k))
        return original(self, *a, **k)

    cpm.CorrespondencePass.set_sheet = recorded
    rt = build_runtime(RuntimeSpec(motion="walk", size=args.size, context="egl", lookahead=False))
    try:
        raster = rt.raster
        cp = raster.correspondence
        a, k = calls[-1]
        poses = [rt.physics.step() for _ in range(args.frames)]
        cameras = [raster.camera(p) for p in poses]
        cpu = {False: [], True: []}
        for r in range(args.rounds):
            for lit in ((True, False) if r % 2 == 0 else (False, True)):
                original(cp, *a, **{**k, "lit": lit})
                assert cp.light_rule == lit
                for p, c in zip(poses[:3], cameras):  # warm: the programs compiled, the textures made
                    raster.render(p, c)
                    raster.read_views()
                t0 = time.process_time()
                for p, c in zip(poses, cameras):
                    raster.render(p, c)
                    raster.read_views()
                cpu[lit].append(round((time.process_time() - t0) / len(poses) * 1e3, 3))
        triangles, views = len(cp._triangles), cp.views
    finally:
        rt.close()
    off, on = statistics.median(cpu[False]), statistics.median(cpu[True])
    result = {"size": args.size, "frames": args.frames, "views": views, "triangles": triangles,
              "load_1min": round(os.getloadavg()[0], 2), "cpu_ms_off": cpu[False], "cpu_ms_on": cpu[True],
              "median_off": off, "median_on": on, "ratio": round(on / off, 3)}
    print(f"raster stage CPU ms/frame at {args.size}², {views} views: rule off {off:.2f}, on {on:.2f} "
          f"({on / off:.3f}x; rounds {cpu[False]} / {cpu[True]}; load {result['load_1min']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
