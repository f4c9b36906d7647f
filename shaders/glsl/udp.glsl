#version 330 core
// Ultra-Dense Pose pass: each covered pixel gets the landmark (rest-pose
// position normalised by the character's canonical box) of the surface point
// it sees, alpha = 1; background stays (0, 0, 0, 0). Rendered into RGBA32F.

#if defined VERTEX_SHADER
#include "include/skinning.glsl"

uniform mat4 u_view_proj;  // character space -> clip (y flipped: row 0 = top in memory)
in vec3 in_landmark;       // [0, 1]^3
in vec2 in_uv;
in vec4 in_color;
in vec3 in_alpha;          // glTF alpha mode, cutoff, double-sided (include/alpha.glsl)
out vec3 v_landmark;
out vec2 v_uv;
out float v_color_alpha;
flat out vec3 v_alpha;

void main() {
    vec3 p = skinned_position(skin_matrix());
    v_landmark = in_landmark;
    v_uv = in_uv;
    v_color_alpha = in_color.a;
    v_alpha = in_alpha;
    gl_Position = u_view_proj * vec4(p, 1.0);
}

#elif defined FRAGMENT_SHADER
#include "include/alpha.glsl"

uniform bool u_has_alpha;      // some MASK/BLEND material or single-sided face: apply the coverage rule
uniform sampler2D u_texture;   // the toon pass's albedo texture (alpha only)
uniform float u_base_alpha;    // baseColorFactor.a
in vec3 v_landmark;
in vec2 v_uv;
in float v_color_alpha;
flat in vec3 v_alpha;
out vec4 f_udp;

void main() {
    if (u_has_alpha) {
        float alpha = material_alpha(u_base_alpha, texture(u_texture, v_uv).a, v_color_alpha);
        if (alpha_uncovered(v_alpha, alpha, gl_FrontFacing)) discard;
    }
    f_udp = vec4(clamp(v_landmark, 0.0, 1.0), 1.0);
}
#endif
