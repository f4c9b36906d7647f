#version 330 core
// Toon pass, step 2 (screen space): ink lines inside the silhouette, from the
// G-buffer of step 1. A covered pixel becomes ink when, within u_radius pixels,
// there is background (silhouette), a surface in front of it by more than
// u_depth_step (occlusion contour, drawn on the far side), a different part
// label (e.g. hair over skin, drawn on the lower label's side) or a normal
// turning by more than the crease angle (hard edges, drawn on the side that
// faces the camera less). Lines never leave the silhouette, so the
// coverage stays equal to the UDP pass.

#if defined VERTEX_SHADER
#include "include/fullscreen_triangle.glsl"

#elif defined FRAGMENT_SHADER
#include "include/color.glsl"
#include "include/octahedral.glsl"

uniform sampler2D u_color;   // step 1 colour, RGBA8
uniform sampler2D u_gbuf;    // step 1 G-buffer: depth (0 = background), part, normal (octahedral)
uniform int u_radius;        // line half-width in pixels
uniform float u_depth_step;  // eye-space depth jump that counts as a contour
uniform float u_crease_cos;  // cos(crease angle); below it two normals make a crease (< -1: off)
uniform vec3 u_ink;          // ink = colour * u_ink (darkened, tinted)

out vec4 f_color;

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
    ivec2 size = textureSize(u_gbuf, 0);
    vec4 g = texelFetch(u_gbuf, p, 0);
    if (g.x == 0.0) {
        f_color = vec4(0.0);  // background: transparent black (straight alpha)
        return;
    }
    vec4 c = texelFetch(u_color, p, 0);
    if (c.a > 0.0) c.rgb /= c.a;  // step 1 holds premultiplied colour (alpha 1 except under glTF BLEND layers)
    vec3 n = oct_decode(g.zw);
    bool edge = false;
    for (int dy = -u_radius; dy <= u_radius && !edge; ++dy) {
        for (int dx = -u_radius; dx <= u_radius && !edge; ++dx) {
            if (dx * dx + dy * dy > u_radius * u_radius) continue;
            ivec2 q = p + ivec2(dx, dy);
            if (any(lessThan(q, ivec2(0))) || any(greaterThanEqual(q, size))) continue;  // frame border is not a silhouette
            vec4 h = texelFetch(u_gbuf, q, 0);
            if (h.x == 0.0 || g.x - h.x > u_depth_step || h.y > g.y) {
                edge = true;
            } else {
                // Crease: ink the side that faces the camera less (one line, not two).
                vec3 m = oct_decode(h.zw);
                edge = dot(n, m) < u_crease_cos && (n.z < m.z || (n.z == m.z && h.x < g.x));
            }
        }
    }
    if (edge) {
        c.rgb = linear_to_srgb(srgb_to_linear(c.rgb) * u_ink);
    }
    f_color = vec4(c.rgb, 1.0);
}
#endif
