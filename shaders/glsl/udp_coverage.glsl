#version 330 core
// UdpPass(coverage=k)'s occupancy samples: the UDP pass's stages with COVERAGE
// (the fragment writes 1 where the surface covers, same alpha rules) drawn at
// k x the size, and a geometry stage that drops the triangles deep inside the
// silhouette, where the coverage is the occupancy anyway (most of them: the
// hidden layers and the body's inside; on llvmpipe the draw costs per triangle).
// Two kinds are dropped (shaders/coverage.py says why each is safe), both
// only away from inner contours (an arm over the torso: where sub-pixel gaps
// and skinning's self-intersections are), as u_interior says at the pixel of
// the triangle's centroid:
// - a triangle at most MAX_SIDE px wide whose centroid's pixel has a full
//   occupancy within INTERIOR_RADIUS px: every pixel it touches has a full
//   3 x 3 neighbourhood, where resolve_coverage takes no sample;
// - a back face of a closed, outward, opaque surface (all three vertices
//   flagged by coverage.closed_surface_vertices): the surface's front faces
//   cover wherever it does.
#define COVERAGE 1

#if defined GEOMETRY_SHADER
#include "include/udp_vertex.glsl"
layout(triangles) in;
layout(triangle_strip, max_vertices = 3) out;
in UdpVertex { UDP_VERTEX_MEMBERS } vin[];
out UdpVertex { UDP_VERTEX_MEMBERS } v;

// R8, the pass's size, the draw's rows (coverage.drop_masks): 1 = deep (full occupancy within
// INTERIOR_RADIUS, a define, and no inner contour near), 0.5 = no inner contour near, 0 = keep all
uniform sampler2D u_interior;
uniform vec2 u_size;           // the pass's size in pixels (the draw is k x that)
uniform bool u_front_ccw;      // the pass's front_face: counter-clockwise in window coordinates
in float v_closed[];           // 1: the vertex's back faces may go (coverage.closed_surface_vertices)
// The centroid is at least a third of the box from each side: the triangle lies
// within 2/3 MAX_SIDE of it (per axis), its pixels within ceil(2/3 MAX_SIDE) of
// the centroid's pixel, and their 3 x 3 within that + 1 <= INTERIOR_RADIUS.
const float MAX_SIDE = 1.5 * float(INTERIOR_RADIUS - 1);

bool dropped() {
    vec4 a = gl_in[0].gl_Position, b = gl_in[1].gl_Position, c = gl_in[2].gl_Position;
    if (min(a.w, min(b.w, c.w)) <= 0.0) return false;
    vec2 pa = (a.xy / a.w * 0.5 + 0.5) * u_size;  // window coordinates, pixels
    vec2 pb = (b.xy / b.w * 0.5 + 0.5) * u_size;
    vec2 pc = (c.xy / c.w * 0.5 + 0.5) * u_size;
    ivec2 q = ivec2(floor((pa + pb + pc) / 3.0));  // the centroid's pixel
    if (any(lessThan(q, ivec2(0))) || any(greaterThanEqual(q, ivec2(u_size)))) return false;
    float rule = texelFetch(u_interior, q, 0).r;
    if (rule > 0.25 && min(v_closed[0], min(v_closed[1], v_closed[2])) > 0.5) {
        vec2 e1 = pb - pa, e2 = pc - pa;
        float area = e1.x * e2.y - e1.y * e2.x;  // > 0: counter-clockwise
        if (u_front_ccw ? area < 0.0 : area > 0.0) return true;
    }
    vec2 side = max(pa, max(pb, pc)) - min(pa, min(pb, pc));
    return rule > 0.75 && max(side.x, side.y) <= MAX_SIDE;
}

void main() {
    if (dropped()) return;
    for (int i = 0; i < 3; ++i) {
        gl_Position = gl_in[i].gl_Position;
        v.landmark = vin[i].landmark;
        v.uv = vin[i].uv;
        v.color_alpha = vin[i].color_alpha;
        v.alpha = vin[i].alpha;
        EmitVertex();
    }
    EndPrimitive();
}

#elif defined VERTEX_SHADER || defined FRAGMENT_SHADER
#include "include/udp_stages.glsl"
#endif
