// The UDP pass's vertex and fragment stages (glsl/udp.glsl; glsl/udp_vbuf.glsl
// adds a geometry stage and, with VBUF defined, the visibility buffer of the
// exact sheet correspondences as a second output).
// The varyings travel in the UdpVertex block so a geometry stage can pass them on.
// The vertices come skinned: UdpPass skins them once per frame with
// glsl/skin_feedback.glsl (the code of include/skinning.glsl) and every draw of
// the pass (the UDP, the supersampled coverage) reads the same positions.
// With COVERAGE defined the fragment stage writes 1 wherever the surface
// covers (the same alpha rules), for UdpPass(coverage=k)'s occupancy samples.
// ALPHA_RULE (include/udp_vertex.glsl): the alpha rules apply (their varyings,
// uniforms and test); without it every fragment of the surface covers.
#include "include/udp_vertex.glsl"

#if defined VERTEX_SHADER
invariant gl_Position;

uniform mat4 u_view_proj;  // character space -> clip (y flipped: row 0 = top in memory)
in vec3 in_skinned;        // the posed position (character space), skinned this frame
in vec3 in_landmark;       // [0, 1]^3
#if defined ALPHA_RULE
in vec2 in_uv;
in vec4 in_color;
in vec3 in_alpha;          // glTF alpha mode, cutoff, double-sided (include/alpha.glsl)
#endif
out UdpVertex { UDP_VERTEX_MEMBERS } v;

void main() {
    vec3 p = in_skinned;
    v.landmark = in_landmark;
#if defined ALPHA_RULE
    v.uv = in_uv;
    v.color_alpha = in_color.a;
    v.alpha = in_alpha;
#endif
    gl_Position = u_view_proj * vec4(p, 1.0);
}

#elif defined FRAGMENT_SHADER
#if defined ALPHA_RULE
#include "include/udp_alpha_rule.glsl"
#endif

in UdpVertex { UDP_VERTEX_MEMBERS } v;
layout(location = 0) out vec4 f_udp;
#if defined VBUF
#include "include/eye_depth.glsl"
in vec2 v_bary;  // from the geometry stage: b0, b1 of the triangle's corners
layout(location = 1) out vec4 f_vis;
#endif

void main() {
#if defined ALPHA_RULE
    if (udp_uncovered(v.uv, v.color_alpha, v.alpha)) discard;
#endif
#if defined COVERAGE
    f_udp = vec4(1.0);
#else
    f_udp = vec4(clamp(v.landmark, 0.0, 1.0), 1.0);
#endif
#if defined VBUF
    // as glsl/correspondence_vbuf.glsl: triangle id + 1 (exact below 2^24), the eye depth, b0, b1
    f_vis = vec4(float(gl_PrimitiveID + 1), eye_depth(), v_bary);
#endif
}
#endif
