#version 330 core
// Exact sheet correspondences (shaders/correspondence_pass.py).
//
// Per vertex and sheet view k, a texel of u_attrs holds where the vertex is
// in that view: (x * w, y * w, w, d), with (x, y) the pixel position in the
// sheet view as the network sees it (after the sheet's re-framing; pixel
// centres at +0.5, row 0 = top) in homogeneous form (w = the view camera's
// clip w, so the rasterizer's interpolation stays exact under perspective),
// and d = the point's eye depth in that view (views with a camera), or its
// visibility 0/1 (views matched by nearest UDP, no camera).
//
// DEPTH_MAP: draws view u_view's depth map (eye depth of the nearest
// surface) from the same texels, into rows [u_view * S, (u_view + 1) * S).
// (The target's visibility buffer, triangle id + barycentrics per pixel, is
// drawn by glsl/correspondence_vbuf.glsl.)
// RESOLVE (= the views per draw, 1..8): a full-screen pass over the pixels
// the target covers, once per pixel, not per overlapping fragment: fetches
// each view's 3 corner texels of the pixel's triangle (u_tri_attrs: adjacent, by triangle),
// interpolates them with the barycentrics (what the rasterizer would have
// done), samples the view's reference there and writes the view's coverage
// (1 where the point is visible in the view).

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

#if defined DEPTH_MAP

#if defined VERTEX_SHADER
uniform int u_view;
uniform float u_side;       // S, the sheet side in pixels
uniform vec2 u_depth_range; // (near, far) eye depths of this view's vertices, for the z test only
out float v_depth;

void main() {
    vec4 a = view_attr(u_view, gl_VertexID);
    v_depth = a.w;
    float z = clamp((a.w - u_depth_range.x) / max(u_depth_range.y - u_depth_range.x, 1e-6), 0.0, 1.0) * 2.0 - 1.0;
    // row r of the target = pixel row r of the view (row 0 = top): no flip
    gl_Position = vec4(a.x / u_side * 2.0 - a.z, a.y / u_side * 2.0 - a.z, z * a.z, a.z);
}

#elif defined FRAGMENT_SHADER
in float v_depth;
out float o_depth;

void main() {
    o_depth = v_depth;
}
#endif

#elif defined RESOLVE

#if defined VERTEX_SHADER
void main() {  // one triangle over the viewport; the visibility buffer says which pixels are covered
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER
uniform sampler2D u_vbuf;       // the default pass's output: (triangle + 1, b0, b1, 0); 0 = background
uniform sampler2D u_tri_attrs;  // RGBA32F, 4096 texels per row: u_attrs by triangle, (t * u_views + k) * 3 + corner
uniform int u_views;            // M, all the sheet's views
uniform int u_row0;             // this draw's first row in the outputs (group * H)
uniform sampler2DArray u_reference;  // [M] x S x S premultiplied RGBA, row 0 = top; zero border
uniform sampler2D u_depth;           // RGBA32F, (S+1) x (M * (S+1)): view k's depth quads in rows [k*(S+1), (k+1)*(S+1))
uniform float u_side;
uniform int u_first;
uniform int u_count;
uniform float u_exact[8];      // per view of this draw: 1 = depth-test against its depth map, 0 = d is the visibility
uniform float u_tolerance[8];  // per view of this draw: eye-depth distance that still counts as the same surface point

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

// is a point at eye depth d seen at pixel position p of view k? It is when
// one of the 4 depth texels around p shows a surface within the tolerance
// (the point's own surface; an occluder is nearer by more than that). The 4
// come in one fetch: u_depth texel base + 1 holds them, clamped to the map
// (correspondence_pass.depth_quads); a base outside the map reads the
// nearest quad, which clamps to the same texels.
float visible_in(int k, vec2 p, float d, float tolerance) {
    int side = int(u_side);
    ivec2 q = clamp(ivec2(floor(p - 0.5)) + 1, ivec2(0), ivec2(side));
    vec4 depth = texelFetch(u_depth, ivec2(q.x, k * (side + 1) + q.y), 0);
    return any(lessThanEqual(abs(depth - vec4(d)), vec4(tolerance))) ? 1.0 : 0.0;
}

// view u_first + i at the point with barycentrics `bary` in triangle `tri`:
// the reference's colour there (un-premultiplied) and its coverage `seen`
// (alpha); zeros where the view does not see the point. (Called with constant
// i, not looped over arrays: llvmpipe spills indexed arrays to memory, which
// cost more than everything else in the resolve.)
vec4 resolve_view(int i, int count, int tri_texel, vec3 bary) {
    if (i >= count) return vec4(0.0);
    int k = u_first + i;
    int c = tri_texel + 3 * k;  // the triangle's corners in view k: 3 adjacent texels
    vec4 at = bary.x * texelFetch(u_tri_attrs, texel_of(c), 0) + bary.y * texelFetch(u_tri_attrs, texel_of(c + 1), 0)
            + bary.z * texelFetch(u_tri_attrs, texel_of(c + 2), 0);
    if (at.z <= 0.0) return vec4(0.0);
    vec2 p = at.xy / at.z;
    float seen = u_exact[i] > 0.5 ? visible_in(k, p, at.w, u_tolerance[i])
                                  : step(0.999, at.w);  // every corner of the triangle matched
    vec4 s = texture(u_reference, vec3(p / u_side, float(k)));
    // A seen point is opaque: alpha < 1 is the bilinear footprint reaching
    // past the view's silhouette. Keep the surface colour (un-premultiplied)
    // and let the partial alpha lower this view's coverage instead, so a
    // view that sees the point inside its silhouette wins the fusion.
    seen *= step(0.05, s.a) * s.a;
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
    int tri = t * u_views * 3;  // the triangle's first texel in u_tri_attrs
    vec3 bary = vec3(vis.y, vis.z, 1.0 - vis.y - vis.z);
    // RESOLVE views per draw (a constant: llvmpipe would run the unused ones' code too)
    o_view0 = resolve_view(0, count, tri, bary);
#if RESOLVE > 1
    o_view1 = resolve_view(1, count, tri, bary);
#endif
#if RESOLVE > 2
    o_view2 = resolve_view(2, count, tri, bary);
#endif
#if RESOLVE > 3
    o_view3 = resolve_view(3, count, tri, bary);
#endif
#if RESOLVE > 4
    o_view4 = resolve_view(4, count, tri, bary);
#endif
#if RESOLVE > 5
    o_view5 = resolve_view(5, count, tri, bary);
#endif
#if RESOLVE > 6
    o_view6 = resolve_view(6, count, tri, bary);
#endif
#if RESOLVE > 7
    o_view7 = resolve_view(7, count, tri, bary);
#endif
}
#endif

#endif
