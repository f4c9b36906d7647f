#version 330 core
// Toon pass, step 2 (screen space): ink lines inside the silhouette, from the
// G-buffer of step 1. A covered pixel becomes ink when, within u_radius pixels,
// there is background (silhouette), a surface in front of it by more than
// u_depth_step (occlusion contour, drawn on the far side), a different part
// label (e.g. hair over skin, drawn on the lower label's side) or a normal
// turning by more than the crease angle (hard edges, drawn on the side that
// faces the camera less). Lines never leave the silhouette, so the
// coverage stays equal to the UDP pass.
//
// u_resolved_only: part and crease lines need surfaces the frame resolves at
// the line's width. Detail finer than that (hair locks a pixel wide lying on
// the scalp, a hairband peeking between them) has normals and labels that
// change from pixel to pixel; testing every pixel pair there inks noise (the
// crown stippled with dots, issue #15). So a crease needs both sides smooth
// at the line's scale (each normal within RESOLVED_DEGREES of at least
// RESOLVED_NORMALS of its 8 neighbours one line width away), and a part
// boundary needs the other part on at least RESOLVED_PARTS of them.

#if defined VERTEX_SHADER
// Drawn with step 1's depth buffer attached and the test ">=": the triangle lies at
// window depth 1 - 2^-24, in front of the cleared background (1.0) and behind every
// covered pixel (a drawn surface is nearer than 1.0), so only covered pixels run this
// shader; the background keeps the target's clear (0, 0, 0, 0), what it would write.
#define FULLSCREEN_DEPTH 0.99999988079071044921875  // 1 - 2^-23 in clip space
#include "include/fullscreen_triangle.glsl"

#elif defined FRAGMENT_SHADER
#include "include/color.glsl"
#include "include/octahedral.glsl"

uniform sampler2D u_color;   // step 1 colour, RGBA8
uniform sampler2D u_gbuf;    // step 1 G-buffer: depth (0 = background), part, normal (octahedral)
uniform int u_radius;        // line half-width in pixels
uniform float u_depth_step;  // eye-space depth jump that counts as a contour
uniform float u_crease_cos;  // cos(crease angle); below it two normals make a crease (< -1: off)
uniform bool u_resolved_only;  // part and crease lines only between resolved surfaces (above)
uniform vec3 u_ink;          // ink = colour * u_ink + u_ink_add (linear: darkened, tinted; or a fixed pen)
uniform vec3 u_ink_add;      // 0 but for a fixed ink colour (ToonStyle.ink_colour), then u_ink is 0
uniform bool u_inner;        // false: the silhouette's line only (no occlusion, part or crease lines)

out vec4 f_color;

const float RESOLVED_COS = 0.8660254;  // cos(RESOLVED_DEGREES = 30)
const int RESOLVED_NORMALS = 4;  // of 8: a flat face beside a straight crease has 5
const int RESOLVED_PARTS = 2;    // of 8: a lock's tip one pixel wide over the forehead has 2-3

ivec2 g_size;

// How many of the 8 pixels `step` away from q are covered and agree with it:
// normal within RESOLVED_COS of n (by_normal) or the same part label.
int agreeing(ivec2 q, vec3 n, float part, int step, bool by_normal) {
    int count = 0;
    for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
            ivec2 s = q + step * ivec2(dx, dy);
            if ((dx == 0 && dy == 0) || any(lessThan(s, ivec2(0))) || any(greaterThanEqual(s, g_size))) continue;
            vec4 k = texelFetch(u_gbuf, s, 0);
            if (k.x == 0.0) continue;
            if (by_normal ? dot(n, oct_decode(k.zw)) >= RESOLVED_COS : k.y == part) ++count;
        }
    }
    return count;
}

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
    g_size = textureSize(u_gbuf, 0);
    vec4 g = texelFetch(u_gbuf, p, 0);
    if (g.x == 0.0) {
        f_color = vec4(0.0);  // background: transparent black (straight alpha)
        return;
    }
    vec4 c = texelFetch(u_color, p, 0);
    if (c.a > 0.0) c.rgb /= c.a;  // step 1 holds premultiplied colour (alpha 1 except under glTF BLEND layers)
    vec3 n = oct_decode(g.zw);
    int step = max(u_radius, 1);  // "resolved" is judged at the line's width
    int p_smooth = -1;  // p's own normal agreement, counted when a crease first needs it
    bool edge = false;
    for (int dy = -u_radius; dy <= u_radius && !edge; ++dy) {
        for (int dx = -u_radius; dx <= u_radius && !edge; ++dx) {
            if (dx * dx + dy * dy > u_radius * u_radius) continue;
            ivec2 q = p + ivec2(dx, dy);
            if (any(lessThan(q, ivec2(0))) || any(greaterThanEqual(q, g_size))) continue;  // frame border is not a silhouette
            vec4 h = texelFetch(u_gbuf, q, 0);
            if (h.x == 0.0) {
                edge = true;
            } else if (!u_inner) {
                continue;
            } else if (g.x - h.x > u_depth_step) {
                edge = true;
            } else if (h.y > g.y && (!u_resolved_only || agreeing(q, n, h.y, step, false) >= RESOLVED_PARTS)) {
                edge = true;
            } else {
                // Crease: ink the side that faces the camera less (one line, not two).
                vec3 m = oct_decode(h.zw);
                edge = dot(n, m) < u_crease_cos && (n.z < m.z || (n.z == m.z && h.x < g.x));
                if (edge && u_resolved_only) {
                    if (p_smooth < 0) p_smooth = agreeing(p, n, 0.0, step, true);
                    edge = p_smooth >= RESOLVED_NORMALS && agreeing(q, m, 0.0, step, true) >= RESOLVED_NORMALS;
                }
            }
        }
    }
    if (edge) {
        c.rgb = linear_to_srgb(srgb_to_linear(c.rgb) * u_ink + u_ink_add);
    }
    f_color = vec4(c.rgb, 1.0);
}
#endif
