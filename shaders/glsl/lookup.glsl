#version 330 core
// conr-rt's non-learned per-frame step (runtime/lookup_net.py, sample_views)
// on the texture units: a trilinear lookup of each target pixel's UDP xyz in
// the view's grid^3 table of sheet positions, then a bilinear sample of the
// view's reference image there.
//
// The target is a stack of views: fragment row r = view * u_height + y, one
// draw per view (its viewport, its textures), so each of the five R32F
// attachments reads back as [views, H, W] planes, the network's planar
// layout (no transpose on the host).

#if defined VERTEX_SHADER
// Full-screen triangle, no vertex buffer.
void main() {
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER
uniform sampler2D u_udp;             // RGBA32F target UDP (xyz, occupancy), texel row 0 = image row 0 (top)
uniform sampler3D u_table;           // this view's table: RGBA32F (u*c, v*c, c, 0), width = z,
                                     // height = y, depth = x; LINEAR, CLAMP_TO_EDGE
uniform sampler2DArray u_reference;  // RGBA32F premultiplied reference, layer = view, LINEAR, zero border
uniform int u_height;                // target H (rows per view)
uniform int u_view;                  // the view this draw fills (rows u_view*H .. +H)
uniform vec2 u_ref_size;             // reference (W, H) in texels
uniform bool u_encode_pose;          // xyz *= occupancy first (LookupNet.encode_pose)

layout(location = 0) out float o_r;
layout(location = 1) out float o_g;
layout(location = 2) out float o_b;
layout(location = 3) out float o_a;
layout(location = 4) out float o_cover;

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
    vec4 acc = texture(u_table, clamp(xyz, 0.0, 1.0).zyx);
    float c = acc.z;
    vec2 uv = acc.xy / max(c, 1e-6);

    // grid_sample(align_corners=True): u = -1 is the centre of texel 0 and
    // u = 1 that of texel W-1; zero padding = the sampler's zero border.
    vec2 pix = (uv + 1.0) * 0.5 * (u_ref_size - 1.0);
    vec4 s = texture(u_reference, vec3((pix + 0.5) / u_ref_size, float(u_view)));

    o_r = s.r;
    o_g = s.g;
    o_b = s.b;
    o_a = s.a;
    o_cover = c * udp.w;
}
#endif
