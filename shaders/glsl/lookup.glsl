#version 330 core
// conr-rt's non-learned per-frame step (runtime/nn/lookup_net.py, sample_views)
// on the texture units: a trilinear lookup of each target pixel's UDP xyz in
// the view's grid^3 table of sheet positions, then a bilinear sample of the
// view's reference image there.
//
// The target is a stack of views: fragment row r = view * u_height + y, one
// draw per view (its viewport, its textures), so each of the five R32F
// attachments reads back as [views, H, W] planes, the network's planar
// layout (no transpose on the host).

#if defined VERTEX_SHADER
#include "include/fullscreen_triangle.glsl"

#elif defined FRAGMENT_SHADER
uniform sampler2D u_udp;             // RGBA32F target UDP (xyz, occupancy), texel row 0 = image row 0 (top)
uniform sampler3D u_table;           // this view's table: RGBA32F (u*c, v*c, c, 0), width = z,
                                     // height = y, depth = x; LINEAR, CLAMP_TO_EDGE
uniform sampler2DArray u_reference;  // RGBA32F premultiplied reference, layer = view, LINEAR, zero border
uniform int u_height;                // target H (rows per view)
uniform int u_view;                  // the view this draw fills (rows u_view*H .. +H)
uniform vec2 u_ref_size;             // reference (W, H) in texels
uniform bool u_encode_pose;          // xyz *= occupancy first (LookupNet.encode_pose)
uniform float u_corner;              // 0.5 / grid: xyz <= this on every axis looks up voxel (0,0,0) alone
uniform vec4 u_corner_sample;        // this view's reference sampled where voxel (0,0,0) points
uniform float u_corner_cover;        // voxel (0,0,0)'s coverage

layout(location = 0) out float o_r;
layout(location = 1) out float o_g;
layout(location = 2) out float o_b;
layout(location = 3) out float o_a;
layout(location = 4) out float o_cover;

#if defined FILL
// Pixels outside the bounding box of the target's occupancy: encode_pose made
// their xyz 0 and their occupancy is 0, so every one of them is the view's
// voxel-(0,0,0) constant with cover 0 (LookupPass.render draws this around the box).
void main() {
    o_r = u_corner_sample.r;
    o_g = u_corner_sample.g;
    o_b = u_corner_sample.b;
    o_a = u_corner_sample.a;
    o_cover = 0.0;
}
#else
#if defined EXACT_FILTER
// The same blends with texelFetch and float32 maths written out, for texture
// units whose filter weights are low-precision fixed point (NVIDIA: 8
// fractional bits). Same formulas and corner order as look_up / grid_sample.
vec4 table_at(vec3 xyz) {
    float g = float(textureSize(u_table, 0).x);
    vec3 p = clamp(xyz, 0.0, 1.0) * g - 0.5;
    vec3 p0 = clamp(floor(p), 0.0, g - 2.0);
    vec3 f = clamp(p - p0, 0.0, 1.0);
    ivec3 i = ivec3(p0);  // (x, y, z); the texture is (width z, height y, depth x)
    vec4 acc = vec4(0.0);
    for (int dx = 0; dx < 2; ++dx) {
        for (int dy = 0; dy < 2; ++dy) {
            for (int dz = 0; dz < 2; ++dz) {
                float w = (dx == 1 ? f.x : 1.0 - f.x) * (dy == 1 ? f.y : 1.0 - f.y) * (dz == 1 ? f.z : 1.0 - f.z);
                acc += w * texelFetch(u_table, ivec3(i.z + dz, i.y + dy, i.x + dx), 0);
            }
        }
    }
    return acc;
}

vec4 reference_at(vec2 pix) {
    // zero padding: corners outside the image count 0; far-away (or huge)
    // coordinates are clamped first so the int conversion stays defined
    ivec2 size = ivec2(u_ref_size);
    pix = clamp(pix, vec2(-2.0), u_ref_size + 1.0);
    vec2 p0 = floor(pix);
    vec2 f = pix - p0;
    ivec2 i = ivec2(p0);
    vec4 acc = vec4(0.0);
    for (int dy = 0; dy < 2; ++dy) {
        for (int dx = 0; dx < 2; ++dx) {
            ivec2 q = i + ivec2(dx, dy);
            if (all(greaterThanEqual(q, ivec2(0))) && all(lessThan(q, size))) {
                float w = (dx == 1 ? f.x : 1.0 - f.x) * (dy == 1 ? f.y : 1.0 - f.y);
                acc += w * texelFetch(u_reference, ivec3(q, u_view), 0);
            }
        }
    }
    return acc;
}
#else
vec4 table_at(vec3 xyz) {
    return texture(u_table, clamp(xyz, 0.0, 1.0).zyx);
}

vec4 reference_at(vec2 pix) {
    // texel centres at integer pix; zero padding = the sampler's zero border
    return texture(u_reference, vec3((pix + 0.5) / u_ref_size, float(u_view)));
}
#endif

void main() {
    ivec2 f = ivec2(gl_FragCoord.xy);
    vec4 udp = texelFetch(u_udp, ivec2(f.x, f.y - u_view * u_height), 0);
    vec3 xyz = u_encode_pose ? udp.xyz * udp.w : udp.xyz;

    // look_up: p = xyz * grid - 0.5 puts voxel centres at integers, the base
    // corner is clamped to [0, grid-2] and the fraction to [0, 1]: that is
    // clamp-to-edge trilinear with GL's own texel-centre convention
    // (texcoord * size - 0.5), so the normalised xyz is the texcoord as is.
    // (A table per view, not views stacked in one texture: stacked
    // coordinates are larger, and fp32 loses ~3x more of the fraction.)
    //
    // Background pixels (xyz = 0 after encode_pose, most of a frame) all land
    // on voxel (0,0,0) with weight 1: their result is one constant per view,
    // computed on the host at set_sheet. A GPU skips the two fetches for
    // blocks of background; llvmpipe runs both sides masked, so for host
    // frames LookupPass.render draws only the occupancy's bounding box here
    // and the FILL program around it.
    vec4 s;
    float c;
    if (all(lessThanEqual(xyz, vec3(u_corner)))) {
        s = u_corner_sample;
        c = u_corner_cover;
    } else {
        vec4 acc = table_at(xyz);
        c = acc.z;
        vec2 uv = acc.xy / max(c, 1e-6);

        // grid_sample(align_corners=True): u = -1 is the centre of texel 0 and
        // u = 1 that of texel W-1
        s = reference_at((uv + 1.0) * 0.5 * (u_ref_size - 1.0));
    }

    o_r = s.r;
    o_g = s.g;
    o_b = s.b;
    o_a = s.a;
    o_cover = c * udp.w;
}
#endif
#endif
