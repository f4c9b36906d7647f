#version 330 core
// Exact sheet correspondences (shaders/correspondence_pass.py).
//
// Per vertex and sheet view k, a texel of u_attrs holds where the vertex is
// in that view: (x * w, y * w, w, d), with (x, y) the pixel position in the
// sheet view as the network sees it (after the sheet's re-framing; pixel
// centres at +0.5, row 0 = top) in homogeneous form (w = the view camera's
// clip w, so the rasterizer's interpolation stays exact under perspective),
// and d = the point's eye depth in that view (views with a camera; views
// matched by nearest UDP carry no depth).
//
// SURFACE_MAP: draws view u_view's surface map from the same texels: per
// sheet pixel the rest-pose landmark (UDP xyz) of the nearest surface, w = 1
// (0 = nothing), into rows [u_view * S, (u_view + 1) * S), covering where
// the UDP pass covers (glTF alpha: MASK/BLEND texels, single-sided faces), so
// it is the view's own UDP. Views matched by nearest UDP bring their own UDP
// instead.
// (The target's visibility buffer, triangle id + barycentrics per pixel, is
// drawn by glsl/correspondence_vbuf.glsl.)
// RESOLVE (= the views per draw, 1..8): a full-screen pass over the pixels
// the target covers, once per pixel, not per overlapping fragment: fetches
// the pixel's triangle's 3 corner landmarks and, per view, its 3 corner
// texels (u_tri_attrs: adjacent, by triangle), interpolates them with the
// barycentrics (what the rasterizer would have done) and samples the view's
// reference there from the texels that show the SAME surface point
// (same_surface below): the view's colour and its coverage of the point.
// INKED (with RESOLVE, inked sheets): the packed sheet holds a view's colours
// without its contour ink (correspondence_pass.uninked), and its contour texels
// with none of their surface beside them count only their weight (< 1). Since
// session 13 also on the target's edges: the fusion draws the target's lines
// from its G-buffer (runtime/nn/lookup_net.py toon_line), not from the views' ink.
// LIGHT (with RESOLVE, sheets judged lit, every view exact): the light agreement
// (correspondence_pass.LIGHT_OTHER_WEIGHT): where a view that sees the point
// (coverage > 0.5) drew it in the target's tone band, the other seeing views'
// coverage x u_other_weight. Bands by N.L (tone_band): the views' per corner in
// their triangle texels' free w, the target's from its skinned normals per
// vertex (u_target_normals, per frame; a triangle's vertex indices in its
// landmark texels' w) and the key light in character space.
// Where no seeing view agrees, a seeing view drawn in a lighter band than the
// target's is relit towards it: colour x ratio(target band) / ratio(its band) in
// linear RGB (u_gain: per part label from the sheet's own shade and deep / lit colour,
// correspondence_pass.tone_ratios, as a multiply of the sRGB colour; the triangle's part above corner
// 2's vertex index).

uniform sampler2D u_attrs;    // RGBA32F, 4096 texels per row, u_attr_rows rows per view
uniform int u_attr_rows;

// Rows of 4096 texels (correspondence_pass._ATTR_WIDTH): shifts and masks, as
// integer division is not vectorized on CPU rasterizers (llvmpipe: it was
// half of the resolve's cost).
ivec2 texel_of(int index) {
    return ivec2(index & 4095, index >> 12);
}

vec4 view_attr(int view, int vertex) {
    return texelFetch(u_attrs, texel_of(vertex) + ivec2(0, view * u_attr_rows), 0);
}

#if defined SURFACE_MAP

#if defined VERTEX_SHADER
uniform sampler2D u_landmarks;  // RGBA32F, per vertex its rest-pose landmark (xyz), u_attrs' layout, one view
uniform int u_view;
uniform float u_side;       // S, the sheet side in pixels
uniform vec2 u_depth_range; // (near, far) eye depths of this view's vertices, for the z test only
in vec2 in_uv;              // the UDP pass's alpha inputs (include/alpha.glsl)
in vec4 in_color;
in vec3 in_alpha;           // glTF alpha mode, cutoff, double-sided
out vec3 v_landmark;
out vec2 v_uv;
out float v_color_alpha;
flat out vec3 v_alpha;

void main() {
    vec4 a = view_attr(u_view, gl_VertexID);
    v_landmark = texelFetch(u_landmarks, texel_of(gl_VertexID), 0).xyz;
    v_uv = in_uv;
    v_color_alpha = in_color.a;
    v_alpha = in_alpha;
    // eye depth -> [-0.99, 0.99], inside the clip range: the farthest surface at exactly 1 failed the
    // "<" test against the cleared depth 1 (a flat back layer facing the view vanished from the map)
    float z = clamp((a.w - u_depth_range.x) / max(u_depth_range.y - u_depth_range.x, 1e-6), 0.0, 1.0) * 1.98 - 0.99;
    // row r of the target = pixel row r of the view (row 0 = top): no flip
    gl_Position = vec4(a.x / u_side * 2.0 - a.z, a.y / u_side * 2.0 - a.z, z * a.z, a.z);
}

#elif defined FRAGMENT_SHADER
#include "include/udp_alpha_rule.glsl"
in vec3 v_landmark;
in vec2 v_uv;
in float v_color_alpha;
flat in vec3 v_alpha;
out vec4 o_surface;

void main() {
    // the UDP pass's coverage rule (include/udp_stages.glsl): a cut-out texel,
    // a thin BLEND texel or a culled back face shows what is behind it, as in
    // the sheet's own UDP (front faces: the pass sets cw, rows are top-first)
    if (udp_uncovered(v_uv, v_color_alpha, v_alpha)) discard;
    o_surface = vec4(v_landmark, 1.0);
}
#endif

#elif defined RESOLVE

#if defined VERTEX_SHADER
void main() {  // one triangle over the viewport; the visibility buffer says which pixels are covered
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER
uniform sampler2D u_vbuf;       // the default pass's output: (triangle + 1, eye depth, b0, b1); 0 = background
uniform sampler2D u_tri_attrs;  // RGBA32F, 4096 texels per row, per triangle t (u_views + 1) * 3 texels from
                                // t * (u_views + 1) * 3: its corners' landmarks, then view k's corner texels
                                // (x * w, y * w, w, pixel step or 0) at + 3 + 3 * k
                                // (correspondence_pass._triangle_texture)
uniform int u_views;            // M, all the sheet's views
uniform int u_row0;             // this draw's first row in the outputs (group * H)
// RGBA32UI, S x (M * S): view k's sheet in rows [k * S, (k + 1) * S), row 0 = top; per texel, 16-bit
// unorm pairs (low, high): (landmark x, y), (landmark z, alpha), (r, g), (b, shown): the surface map
// (the landmark the pixel shows; shown = 0: nothing) and the premultiplied reference, one fetch
// (correspondence_pass.pack_sheet)
uniform usampler2D u_sheet;
uniform float u_side;
uniform int u_first;
uniform int u_count;
uniform float u_exact[8];  // per view of this draw: 1 = camera and pose known (the triangle's affine map), 0 = udp-nn
// per view of this draw: the UDP distance allowed (exact: a pixel step; udp-nn: the match radius)
uniform float u_slack[8];
#if defined LIGHT
uniform sampler2D u_target_normals;  // RGB32F, 4096 texels per row, per vertex the target pose's skinned
                                     // normal (character space, not unit)
uniform vec3 u_light;                // the key light, unit, in character space (the target camera's R^T l)
uniform vec2 u_bands;                // N.L above x: lit; above y: shade; else deep (ToonStyle's thresholds)
uniform float u_other_weight;
// per part label p, [3 p + pair] the sRGB-space gain (linear ^ (1 / 2.2), correspondence_pass.relight_gains)
// of a colour drawn lit to deep shade (pair 0), lit to shade (1), shade to deep shade (2)
uniform vec3 u_gain[27];

// where no seeing view agrees: a seeing view in a lighter band, relit to the target's (only darker)
vec4 relit(vec4 o, int band, int wanted, int part, bool some) {
    if (some || o.a <= 0.5 || band <= wanted) return o;
    return vec4(o.rgb * u_gain[3 * part + (band == 2 ? wanted : 2)], o.a);
}

int tone_band(float ndl) {
    return int(ndl > u_bands.x) + int(ndl > u_bands.y);
}

// where some view that sees the point drew it in the target's band (`some`), a seeing view in another band
// counts u_other_weight of its coverage
vec4 agreed(vec4 o, int band, int wanted, bool some) {
    return (some && o.a > 0.5 && band != wanted) ? vec4(o.rgb, o.a * u_other_weight) : o;
}
#endif

// RESOLVE views per draw, one attachment each: the view's colour at the
// point (un-premultiplied) and its coverage there (0 where it does not see
// the point, colour 0 too); the read-back splits them into the network's
// sampled RGBA (alpha = 1 where covered) and cover
layout(location = 0) out vec4 o_view0;
#if RESOLVE > 1
layout(location = 1) out vec4 o_view1;
#endif
#if RESOLVE > 2
layout(location = 2) out vec4 o_view2;
#endif
#if RESOLVE > 3
layout(location = 3) out vec4 o_view3;
#endif
#if RESOLVE > 4
layout(location = 4) out vec4 o_view4;
#endif
#if RESOLVE > 5
layout(location = 5) out vec4 o_view5;
#endif
#if RESOLVE > 6
layout(location = 6) out vec4 o_view6;
#endif
#if RESOLVE > 7
layout(location = 7) out vec4 o_view7;
#endif

// Texel q of view k's reference (premultiplied) if the view shows the
// point's own surface there, else 0: the texel's landmark (rest-pose UDP) is
// (1) where the point's triangle puts it: its affine map view pixel ->
// landmark (`jx`, `jy`: d landmark / d x, d y; exact views only) predicts the
// texel centre's landmark from the point's, within `tolerance` (exact: one
// pixel step of the view, the median landmark distance between adjacent
// pixels) + `affine` (half a pixel of the triangle's own footprint |J|):
// curvature and the next triangle stay under that; and (2) no farther from
// the point's landmark than `tolerance` + the view's pixel step per pixel of
// distance: a surface seen so obliquely that a pixel spans more is left to
// views that see it better (udp-nn views, snapped to pixel centres, have only
// this test; `tolerance` = their match radius). An occluder or a surface
// behind is farther from the point in the rest pose, however close it is in
// depth: a fringe ~1 pixel over the face, the scalp under the hair, legs
// under a skirt (the depth test with a pixel's slack it replaces let those
// through).
vec4 same_surface(int k, ivec2 q, vec2 p, vec3 landmark, vec3 jx, vec3 jy, float affine, float pixel_step,
                  float tolerance) {
    int side = int(u_side);
    if (any(lessThan(q, ivec2(0))) || any(greaterThanEqual(q, ivec2(side)))) return vec4(0.0);
    uvec4 t = texelFetch(u_sheet, ivec2(q.x, k * side + q.y), 0);
    vec3 shown = vec3(float(t.x & 0xFFFFu), float(t.x >> 16), float(t.y & 0xFFFFu)) * (1.0 / 65535.0);
    vec2 d = vec2(q) + 0.5 - p;
    if ((t.w >> 16) == 0u || distance(shown, landmark + jx * d.x + jy * d.y) > tolerance + affine
        || distance(shown, landmark) > tolerance + pixel_step * length(d)) return vec4(0.0);
    vec4 c = vec4(float(t.z & 0xFFFFu), float(t.z >> 16), float(t.w & 0xFFFFu), float(t.y >> 16)) * (1.0 / 65535.0);
#if defined INKED
    c *= float(t.w >> 16) * (1.0 / 65535.0);  // the texel's weight: < 1 on the view's contours with no surface beside
#endif
    return c;
}

// view u_first + i at the point with barycentrics `bary` in the triangle whose
// corners' landmarks are l0, l1, l2: the reference's colour there (un-
// premultiplied) and its coverage `seen` (alpha); zeros where the view does
// not see the point. The colour is the bilinear sample of the 4 texels around
// the point's position, each only where it shows the point's own surface
// (same_surface): a point next to an occluder's edge in the view takes none of
// the occluder's colour, only less coverage. (Called with constant i, not
// looped over arrays: llvmpipe spills indexed arrays to memory, which cost
// more than everything else in the resolve.)
vec4 resolve_view(int i, int count, int tri_texel, vec3 bary, vec3 l0, vec3 l1, vec3 l2, out int band) {
    band = -1;
    if (i >= count) return vec4(0.0);
    int k = u_first + i;
    int c = tri_texel + 3 * k;  // the triangle's corners in view k: 3 adjacent texels
    vec4 c0 = texelFetch(u_tri_attrs, texel_of(c), 0);
    vec4 c1 = texelFetch(u_tri_attrs, texel_of(c + 1), 0);
    vec4 c2 = texelFetch(u_tri_attrs, texel_of(c + 2), 0);
    vec3 at = bary.x * c0.xyz + bary.y * c1.xyz + bary.z * c2.xyz;
    // c0.w: the view's pixel step; 0 = the view does not see this triangle (udp-nn: a corner unmatched)
    if (at.z <= 0.0 || c0.w <= 0.0) return vec4(0.0);
#if defined LIGHT
    // the view's N.L at the point: corners 0 and 1 at 12 bits in c1.w, corner 2's in c2.w
    int pair = int(c1.w);
    vec2 n01 = vec2(float(pair & 4095), float(pair >> 12)) * (2.0 / 4095.0) - 1.0;
    band = tone_band(bary.x * n01.x + bary.y * n01.y + bary.z * c2.w);
#endif
    vec2 p = at.xy / at.z;
    vec3 landmark = bary.x * l0 + bary.y * l1 + bary.z * l2;
    vec3 jx = vec3(0.0), jy = vec3(0.0);
    float affine = 0.0;  // exact: half a pixel of the triangle's own footprint |J| (its obliquity in the view)
    float pixel_step = c0.w, tolerance = u_slack[i];
    if (u_exact[i] > 0.5) {
        vec2 e1 = c1.xy / c1.z - c0.xy / c0.z, e2 = c2.xy / c2.z - c0.xy / c0.z;  // the triangle's pixel edges
        float det = e1.x * e2.y - e1.y * e2.x;
        if (abs(det) < 1e-9) return vec4(0.0);  // edge-on in the view: no pixel shows it
        vec3 m1 = l1 - l0, m2 = l2 - l0;
        jx = (m1 * e2.y - m2 * e1.y) / det;
        jy = (m2 * e1.x - m1 * e2.x) / det;
        float a = dot(jx, jx), b = dot(jx, jy), d = dot(jy, jy);  // J^T J: its largest eigenvalue = |J|^2
        affine = 0.5 * sqrt(0.5 * (a + d) + sqrt(0.25 * (a - d) * (a - d) + b * b));
    }
    ivec2 q = ivec2(floor(p - 0.5));
    vec2 f = p - 0.5 - vec2(q);
    vec4 s00 = same_surface(k, q, p, landmark, jx, jy, affine, pixel_step, tolerance);
    vec4 s10 = same_surface(k, q + ivec2(1, 0), p, landmark, jx, jy, affine, pixel_step, tolerance);
    vec4 s01 = same_surface(k, q + ivec2(0, 1), p, landmark, jx, jy, affine, pixel_step, tolerance);
    vec4 s11 = same_surface(k, q + ivec2(1, 1), p, landmark, jx, jy, affine, pixel_step, tolerance);
    vec4 s = (1.0 - f.y) * ((1.0 - f.x) * s00 + f.x * s10) + f.y * ((1.0 - f.x) * s01 + f.x * s11);
    // A seen point is opaque: alpha < 1 is the footprint reaching past the
    // view's silhouette or onto another surface. Keep the surface colour
    // (un-premultiplied) and let the partial alpha lower this view's coverage
    // instead, so a view that sees the point fully wins the fusion.
    float seen = step(0.05, s.a) * s.a;
    return seen > 0.0 ? vec4(s.rgb / s.a, seen) : vec4(0.0);
}

void main() {
    vec4 vis = texelFetch(u_vbuf, ivec2(gl_FragCoord.xy) - ivec2(0, u_row0), 0);
    // no triangle here (the outputs are cleared): llvmpipe skips the rest of
    // the shader for blocks of pixels all discarded (it runs every branch of
    // a block, so an `if` would not)
    if (vis.x < 0.5) discard;
    int count = u_count;
    int t = int(vis.x) - 1;
    int tri = t * (u_views + 1) * 3;  // the triangle's first texel in u_tri_attrs
    vec3 bary = vec3(vis.z, vis.w, 1.0 - vis.z - vis.w);
    vec4 l0w = texelFetch(u_tri_attrs, texel_of(tri), 0);  // the corners' landmarks (w: their vertex index)
    vec4 l1w = texelFetch(u_tri_attrs, texel_of(tri + 1), 0);
    vec4 l2w = texelFetch(u_tri_attrs, texel_of(tri + 2), 0);
    vec3 l0 = l0w.xyz, l1 = l1w.xyz, l2 = l2w.xyz;
    tri += 3;  // view 0's corners
    int b0, b1, b2, b3, b4, b5, b6, b7;  // per view its tone band at the point (LIGHT; -1: not seen)
    // RESOLVE views per draw (a constant: llvmpipe would run the unused ones' code too)
    o_view0 = resolve_view(0, count, tri, bary, l0, l1, l2, b0);
#if RESOLVE > 1
    o_view1 = resolve_view(1, count, tri, bary, l0, l1, l2, b1);
#endif
#if RESOLVE > 2
    o_view2 = resolve_view(2, count, tri, bary, l0, l1, l2, b2);
#endif
#if RESOLVE > 3
    o_view3 = resolve_view(3, count, tri, bary, l0, l1, l2, b3);
#endif
#if RESOLVE > 4
    o_view4 = resolve_view(4, count, tri, bary, l0, l1, l2, b4);
#endif
#if RESOLVE > 5
    o_view5 = resolve_view(5, count, tri, bary, l0, l1, l2, b5);
#endif
#if RESOLVE > 6
    o_view6 = resolve_view(6, count, tri, bary, l0, l1, l2, b6);
#endif
#if RESOLVE > 7
    o_view7 = resolve_view(7, count, tri, bary, l0, l1, l2, b7);
#endif
#if defined LIGHT
    // the target's N.L at the point: its corners' unit normals . the light, interpolated (as the views')
    int v2 = int(l2w.w);  // corner 2's vertex index + (its part label, + 9 on the face) x 2^19
    vec3 ndl = vec3(dot(normalize(texelFetch(u_target_normals, texel_of(int(l0w.w)), 0).xyz), u_light),
                    dot(normalize(texelFetch(u_target_normals, texel_of(int(l1w.w)), 0).xyz), u_light),
                    dot(normalize(texelFetch(u_target_normals, texel_of(v2 & 0x7FFFF), 0).xyz), u_light));
    int band = tone_band(dot(bary, ndl));
    bool some = o_view0.a > 0.5 && b0 == band;
#if RESOLVE > 1
    some = some || (o_view1.a > 0.5 && b1 == band);
#endif
#if RESOLVE > 2
    some = some || (o_view2.a > 0.5 && b2 == band);
#endif
#if RESOLVE > 3
    some = some || (o_view3.a > 0.5 && b3 == band);
#endif
#if RESOLVE > 4
    some = some || (o_view4.a > 0.5 && b4 == band);
#endif
#if RESOLVE > 5
    some = some || (o_view5.a > 0.5 && b5 == band);
#endif
#if RESOLVE > 6
    some = some || (o_view6.a > 0.5 && b6 == band);
#endif
#if RESOLVE > 7
    some = some || (o_view7.a > 0.5 && b7 == band);
#endif
    int code = v2 >> 19, part = clamp(code % 9, 0, 8);
    if (code < 9) {  // on the face (code >= 9): as without the rule, neither relit nor lowered
    o_view0 = relit(o_view0, b0, band, part, some);
#if RESOLVE > 1
    o_view1 = relit(o_view1, b1, band, part, some);
#endif
#if RESOLVE > 2
    o_view2 = relit(o_view2, b2, band, part, some);
#endif
#if RESOLVE > 3
    o_view3 = relit(o_view3, b3, band, part, some);
#endif
#if RESOLVE > 4
    o_view4 = relit(o_view4, b4, band, part, some);
#endif
#if RESOLVE > 5
    o_view5 = relit(o_view5, b5, band, part, some);
#endif
#if RESOLVE > 6
    o_view6 = relit(o_view6, b6, band, part, some);
#endif
#if RESOLVE > 7
    o_view7 = relit(o_view7, b7, band, part, some);
#endif
    o_view0 = agreed(o_view0, b0, band, some);
#if RESOLVE > 1
    o_view1 = agreed(o_view1, b1, band, some);
#endif
#if RESOLVE > 2
    o_view2 = agreed(o_view2, b2, band, some);
#endif
#if RESOLVE > 3
    o_view3 = agreed(o_view3, b3, band, some);
#endif
#if RESOLVE > 4
    o_view4 = agreed(o_view4, b4, band, some);
#endif
#if RESOLVE > 5
    o_view5 = agreed(o_view5, b5, band, some);
#endif
#if RESOLVE > 6
    o_view6 = agreed(o_view6, b6, band, some);
#endif
#if RESOLVE > 7
    o_view7 = agreed(o_view7, b7, band, some);
#endif
    }
#endif
}
#endif

#endif
