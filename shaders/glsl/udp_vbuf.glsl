#version 330 core
// The UDP pass that also writes the visibility buffer of the exact sheet
// correspondences (shaders/correspondence_pass.py) as a second output: per
// pixel the nearest triangle's id + 1 (0 = background), its eye depth
// (include/eye_depth.glsl) and its perspective-correct barycentrics b0, b1,
// as glsl/correspondence_vbuf.glsl draws them. One skinned raster of the target serves both (a second one
// cost as much as the UDP pass itself on llvmpipe); the geometry stage passes
// the varyings through unchanged and adds the corners' barycentrics.
// A file of its own: the program loader compiles a geometry stage for every
// variant of a file that has one.
#define VBUF 1

#if defined GEOMETRY_SHADER
#include "include/udp_vertex.glsl"
layout(triangles) in;
layout(triangle_strip, max_vertices = 3) out;
in UdpVertex { UDP_VERTEX_MEMBERS } vin[];
out UdpVertex { UDP_VERTEX_MEMBERS } v;
out vec2 v_bary;  // b0, b1 (b2 = 1 - b0 - b1); perspective-correct like any smooth varying

void main() {
    for (int i = 0; i < 3; ++i) {
        gl_Position = gl_in[i].gl_Position;  // passed through: the same pixels as the plain UDP pass
        v.landmark = vin[i].landmark;
#if defined ALPHA_RULE
        v.uv = vin[i].uv;
        v.color_alpha = vin[i].color_alpha;
        v.alpha = vin[i].alpha;
#endif
        v_bary = vec2(i == 0, i == 1);
        gl_PrimitiveID = gl_PrimitiveIDIn;
        EmitVertex();
    }
    EndPrimitive();
}

#elif defined VERTEX_SHADER || defined FRAGMENT_SHADER
#include "include/udp_stages.glsl"
#endif
