#version 330 core
// UdpPass(coverage=k)'s occupancy samples: the UDP pass's stages with COVERAGE
// (the fragment writes 1 where the surface covers, same alpha rules) drawn at
// k x the size, and a geometry stage that drops the triangles deep inside the
// silhouette, where the coverage is the occupancy anyway (most of them: the
// hidden layers and the body's inside; on llvmpipe the draw costs per triangle).
// Two kinds are dropped (shaders/coverage.py says why each is safe), as
// u_rules says at the pixel of the triangle's centroid:
// - a triangle whose pixel box lies on solid pixels only (full 3 x 3
//   occupancy, no inner contour next to it: coverage.drop_masks), where
//   resolve_coverage takes no sample: the distance to the nearest non-solid
//   pixel (coverage.solid_distance) is larger than the box's reach from the
//   centroid's pixel. So only a thin band at the silhouette and at inner
//   contours is drawn;
// - a back face of a closed, outward, opaque surface (all three vertices
//   flagged by coverage.closed_surface_vertices) away from inner contours (an
//   arm over the torso, where skinning's self-intersections are): the
//   surface's front faces cover wherever it does.
// With ALPHA_RULE defined (a character with MASK/BLEND materials or single-sided
// faces) the UDP pass's own stages apply the alpha rules; without it the
// stages carry the position alone: on llvmpipe each varying a kept triangle
// carries costs set-up work (~25 % of this draw at 256^2 with the UDP's).
#define COVERAGE 1

#if defined GEOMETRY_SHADER
layout(triangles) in;
layout(triangle_strip, max_vertices = 3) out;
#if defined ALPHA_RULE
#include "include/udp_vertex.glsl"
in UdpVertex { UDP_VERTEX_MEMBERS } vin[];
out UdpVertex { UDP_VERTEX_MEMBERS } v;
#endif

// RG8, the pass's size, the draw's rows (coverage.drop_masks): r * 255 = coverage.solid_distance
// (0: the pixel is not solid), g = 1: no inner contour near (back faces may go)
uniform sampler2D u_rules;
uniform vec2 u_size;           // the pass's size in pixels (the draw is k x that)
uniform bool u_front_ccw;      // the pass's front_face: counter-clockwise in window coordinates
in float v_closed[];           // 1: the vertex's back faces may go (coverage.closed_surface_vertices)
// A covered sample lies in the triangle's box, at least 1 / (2k) px from a pixel's side: a
// margin far above the float error of the window coordinates keeps the box's pixels exact.
const float MARGIN = 1.0 / 64.0;

bool dropped() {
    vec4 a = gl_in[0].gl_Position, b = gl_in[1].gl_Position, c = gl_in[2].gl_Position;
    if (min(a.w, min(b.w, c.w)) <= 0.0) return false;
    vec2 pa = (a.xy / a.w * 0.5 + 0.5) * u_size;  // window coordinates, pixels
    vec2 pb = (b.xy / b.w * 0.5 + 0.5) * u_size;
    vec2 pc = (c.xy / c.w * 0.5 + 0.5) * u_size;
    ivec2 q = ivec2(floor((pa + pb + pc) / 3.0));  // the centroid's pixel
    if (any(lessThan(q, ivec2(0))) || any(greaterThanEqual(q, ivec2(u_size)))) return false;
    vec2 rule = texelFetch(u_rules, q, 0).rg;
    if (rule.g > 0.5 && min(v_closed[0], min(v_closed[1], v_closed[2])) > 0.5) {
        vec2 e1 = pb - pa, e2 = pc - pa;
        float area = e1.x * e2.y - e1.y * e2.x;  // > 0: counter-clockwise
        if (u_front_ccw ? area < 0.0 : area > 0.0) return true;
    }
    // the pixels the triangle may cover samples of, and how far they reach from q (Chebyshev)
    vec2 lo = floor(min(pa, min(pb, pc)) - MARGIN), hi = floor(max(pa, max(pb, pc)) + MARGIN);
    vec2 reach = max(vec2(q) - lo, hi - vec2(q));
    return max(reach.x, reach.y) < floor(rule.r * 255.0 + 0.5);
}

void main() {
    if (dropped()) return;
    for (int i = 0; i < 3; ++i) {
        gl_Position = gl_in[i].gl_Position;
#if defined ALPHA_RULE
        v.landmark = vin[i].landmark;
        v.uv = vin[i].uv;
        v.color_alpha = vin[i].color_alpha;
        v.alpha = vin[i].alpha;
#endif
        EmitVertex();
    }
    EndPrimitive();
}

#elif defined ALPHA_RULE
#include "include/udp_stages.glsl"

#elif defined VERTEX_SHADER
invariant gl_Position;  // as include/udp_stages.glsl's: the same positions as the UDP draw
uniform mat4 u_view_proj;  // character space -> clip
in vec3 in_skinned;        // skinned this frame (glsl/skin_feedback.glsl)
in float in_closed;
out float v_closed;

void main() {
    v_closed = in_closed;
    gl_Position = u_view_proj * vec4(in_skinned, 1.0);
}

#elif defined FRAGMENT_SHADER
layout(location = 0) out vec4 f_udp;

void main() {
    f_udp = vec4(1.0);  // every surface covers (no alpha rule on this character)
}
#endif
