#version 330 core
// The visibility buffer of the exact sheet correspondences
// (shaders/correspondence_pass.py; its resolve is glsl/correspondence.glsl):
// rasterizes the TARGET pose once (skinning as the UDP pass) and writes per
// pixel only the nearest triangle's id + 1 (0 = background), its eye depth
// (include/eye_depth.glsl: the fusion's ink rule reads it) and its
// perspective-correct barycentrics b0, b1 (b2 = 1 - b0 - b1): a geometry
// shader gives the corners (1,0), (0,1), (0,0). One draw and two varyings
// whatever the number of views (each view's texel as a varying took a draw
// per 4 views: on llvmpipe ~2.9x this raster's time for 6 views). The UDP
// pass's alpha rule (glTF MASK/BLEND texels, single-sided faces) decides
// which triangle a pixel shows, as in the UDP.
// A separate file: the program loader compiles a geometry stage for every
// variant of a file that has one.


#if defined VERTEX_SHADER
#include "include/skinning.glsl"

uniform mat4 u_view_proj;  // target camera, y flipped (row 0 = top), as the UDP pass
in vec2 in_uv;             // the UDP pass's alpha inputs (include/alpha.glsl)
in vec4 in_color;
in vec3 in_alpha;
out vec2 g_uv;
out float g_color_alpha;
out vec3 g_alpha;

void main() {
    g_uv = in_uv;
    g_color_alpha = in_color.a;
    g_alpha = in_alpha;
    gl_Position = u_view_proj * vec4(skinned_position(skin_matrix()), 1.0);
}

#elif defined GEOMETRY_SHADER
layout(triangles) in;
layout(triangle_strip, max_vertices = 3) out;
in vec2 g_uv[];
in float g_color_alpha[];
in vec3 g_alpha[];
out vec2 v_bary;  // b0, b1 (b2 = 1 - b0 - b1); perspective-correct like any smooth varying
out vec2 v_uv;
out float v_color_alpha;
flat out vec3 v_alpha;

void main() {
    for (int i = 0; i < 3; ++i) {
        gl_Position = gl_in[i].gl_Position;  // passed through: the UDP pass's pixels
        v_bary = vec2(i == 0, i == 1);
        v_uv = g_uv[i];
        v_color_alpha = g_color_alpha[i];
        v_alpha = g_alpha[i];
        gl_PrimitiveID = gl_PrimitiveIDIn;
        EmitVertex();
    }
    EndPrimitive();
}

#elif defined FRAGMENT_SHADER
#include "include/udp_alpha_rule.glsl"
#include "include/eye_depth.glsl"
in vec2 v_bary;
in vec2 v_uv;
in float v_color_alpha;
flat in vec3 v_alpha;
out vec4 o_vis;

void main() {
    if (udp_uncovered(v_uv, v_color_alpha, v_alpha)) discard;
    o_vis = vec4(float(gl_PrimitiveID + 1), eye_depth(), v_bary);  // ids exact below 2^24 triangles
}
#endif
