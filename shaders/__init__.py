"""conrt.shaders: the ModernGL passes that turn a posed character into its
Ultra-Dense Pose buffer (:class:`UdpPass`) and a toon-shaded picture
(:class:`ToonPass`), conr-rt's per-frame table lookup (:class:`LookupPass`)
and exact sheet correspondences (:class:`CorrespondencePass`),
plus GL contexts, the GLSL loader and camera framing. See docs/shaders.md."""
from conrt.shaders.camera import frame_character, orbit_camera, project
from conrt.shaders.context import create_context, release_context
from conrt.shaders.correspondence_pass import CorrespondencePass
from conrt.shaders.lookup_pass import LookupPass
from conrt.shaders.program import load_program
from conrt.shaders.toon_pass import ToonPass, ToonStyle
from conrt.shaders.udp_pass import UdpPass

__all__ = [
    "create_context",
    "release_context",
    "load_program",
    "UdpPass",
    "ToonPass",
    "ToonStyle",
    "LookupPass",
    "CorrespondencePass",
    "frame_character",
    "orbit_camera",
    "project",
]
