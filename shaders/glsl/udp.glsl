#version 330 core
// Ultra-Dense Pose pass: each covered pixel gets the landmark (rest-pose
// position normalised by the character's canonical box) of the surface point
// it sees, alpha = 1; background stays (0, 0, 0, 0). Rendered into RGBA32F.
// (The stages are in include/udp_stages.glsl, shared with glsl/udp_vbuf.glsl.)

#if defined VERTEX_SHADER || defined FRAGMENT_SHADER
#include "include/udp_stages.glsl"
#endif
