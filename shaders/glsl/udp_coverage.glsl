#version 330 core
// UdpPass(coverage=k)'s occupancy samples: the UDP pass's stages with COVERAGE
// (the fragment writes 1 where the surface covers, same alpha rules) drawn at
// k x the size. UdpPass draws only the triangles that touch a thin band at the
// silhouette and the inner contours: the host picks them each frame
// (shaders/coverage.py kept_triangles, which says why the rest are safe to
// leave out) and writes their indices into the draw's own index buffer, so no
// geometry stage runs (on llvmpipe one cost ~3 ms a frame for 27k triangles,
// whatever the frame size, and the vertex stage ran on every vertex).
// With ALPHA_RULE defined (a character with MASK/BLEND materials or single-sided
// faces) the UDP pass's own stages apply the alpha rules; without it the
// stages carry the position alone: on llvmpipe each varying a kept triangle
// carries costs set-up work (~25 % of this draw at 256^2 with the UDP's).
#define COVERAGE 1

#if defined ALPHA_RULE
#include "include/udp_stages.glsl"

#elif defined VERTEX_SHADER
invariant gl_Position;  // as include/udp_stages.glsl's: the same positions as the UDP draw
uniform mat4 u_view_proj;  // character space -> clip
in vec3 in_skinned;        // skinned this frame (glsl/skin_feedback.glsl)

void main() {
    gl_Position = u_view_proj * vec4(in_skinned, 1.0);
}

#elif defined FRAGMENT_SHADER
layout(location = 0) out vec4 f_udp;

void main() {
    f_udp = vec4(1.0);  // every surface covers (no alpha rule on this character)
}
#endif
