// The UDP pass's coverage rule in a fragment stage (include/alpha.glsl with the
// mesh's albedo texture), shared by the UDP pass and the correspondence pass's
// surface maps and visibility buffer so all three cover the same pixels.
#include "include/alpha.glsl"

uniform bool u_has_alpha;      // some MASK/BLEND material or single-sided face (SkinnedGeometry.alpha_rule)
uniform sampler2D u_texture;   // the albedo texture (alpha only), shaders/material.py
uniform float u_base_alpha;    // baseColorFactor.a

// True where this fragment adds no coverage: a cut-out or thin BLEND texel, a
// culled back face (uv, COLOR_0.a and the alpha flags interpolated from the mesh).
bool udp_uncovered(vec2 uv, float color_alpha, vec3 flags) {
    if (!u_has_alpha) return false;
    float alpha = material_alpha(u_base_alpha, texture(u_texture, uv).a, color_alpha);
    return alpha_uncovered(flags, alpha, gl_FrontFacing);
}
