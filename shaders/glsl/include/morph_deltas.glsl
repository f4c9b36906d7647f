// Sparse morph target deltas (blendshapes), summed per vertex by the
// morph_feedback program once per frame (transform feedback) and read by
// every pass as the in_morph_offset / in_morph_normal attributes
// (include/skinning.glsl).
//
// in_morph = (first entry, entry count) of this vertex in u_morph_deltas
// (RGBA32F, 4096 texels wide; entry k is texel 2k = position delta xyz +
// target index in w, texel 2k+1 = normal delta xyz); u_morph_weights holds one
// weight per target (R32F, 1 row). Vertices no target moves cost nothing.

in ivec2 in_morph;

uniform sampler2D u_morph_deltas;
uniform sampler2D u_morph_weights;

ivec2 morph_texel(int i) { return ivec2(i & 4095, i >> 12); }

uniform bool u_morph_normals;  // the character has normal deltas (else texel 2k+1 is not read)

// sum_t weight[t] * delta[t] of positions and (with u_morph_normals) normals
void morph_sums(out vec3 offset, out vec3 normal) {
    offset = vec3(0.0);
    normal = vec3(0.0);
    for (int k = 0; k < in_morph.y; ++k) {
        int e = 2 * (in_morph.x + k);
        vec4 d = texelFetch(u_morph_deltas, morph_texel(e), 0);
        float w = texelFetch(u_morph_weights, ivec2(int(d.w), 0), 0).r;
        offset += w * d.xyz;
        if (u_morph_normals) normal += w * texelFetch(u_morph_deltas, morph_texel(e + 1), 0).xyz;
    }
}
