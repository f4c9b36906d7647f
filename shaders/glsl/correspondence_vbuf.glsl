#version 330 core
// The visibility buffer of the exact sheet correspondences
// (shaders/correspondence_pass.py; its resolve is glsl/correspondence.glsl):
// rasterizes the TARGET pose once (skinning as the UDP pass) and writes per
// pixel only the nearest triangle's id + 1 (0 = background) and its
// perspective-correct barycentrics b0, b1 (b2 = 1 - b0 - b1): a geometry
// shader gives the corners (1,0), (0,1), (0,0). One draw and two varyings
// whatever the number of views (each view's texel as a varying took a draw
// per 4 views: on llvmpipe ~2.9x this raster's time for 6 views).
// A separate file: the program loader compiles a geometry stage for every
// variant of a file that has one.


#if defined VERTEX_SHADER
#include "include/skinning.glsl"

uniform mat4 u_view_proj;  // target camera, y flipped (row 0 = top), as the UDP pass

void main() {
    gl_Position = u_view_proj * vec4(skinned_position(skin_matrix()), 1.0);
}

#elif defined GEOMETRY_SHADER
layout(triangles) in;
layout(triangle_strip, max_vertices = 3) out;
out vec2 v_bary;  // b0, b1 (b2 = 1 - b0 - b1); perspective-correct like any smooth varying

void main() {
    for (int i = 0; i < 3; ++i) {
        gl_Position = gl_in[i].gl_Position;  // passed through: the UDP pass's pixels
        v_bary = vec2(i == 0, i == 1);
        gl_PrimitiveID = gl_PrimitiveIDIn;
        EmitVertex();
    }
    EndPrimitive();
}

#elif defined FRAGMENT_SHADER
in vec2 v_bary;
out vec4 o_vis;

void main() {
    o_vis = vec4(float(gl_PrimitiveID + 1), v_bary, 0.0);  // exact below 2^24 triangles
}
#endif
