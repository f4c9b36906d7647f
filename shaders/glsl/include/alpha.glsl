// glTF material alpha (shared by the UDP and toon passes, so both cover the
// same pixels). in_alpha / v_alpha: x = mode (0 OPAQUE, 1 MASK, 2 BLEND),
// y = alphaCutoff, z = doubleSided (0/1).

const float BLEND_COVERAGE = 0.5;  // a BLEND layer covers (UDP, silhouette) where its alpha reaches this

// Albedo alpha per glTF: baseColorFactor.a x texture.a x COLOR_0.a.
float material_alpha(float factor_alpha, float texel_alpha, float color_alpha) {
    return factor_alpha * texel_alpha * color_alpha;
}

// True where the fragment adds no coverage: a culled back face of a
// single-sided material, a MASK texel below its cutoff, a BLEND texel below
// BLEND_COVERAGE. OPAQUE ignores alpha.
bool alpha_uncovered(vec3 flags, float alpha, bool front_facing) {
    if (flags.z < 0.5 && !front_facing) return true;
    if (flags.x > 1.5) return alpha < BLEND_COVERAGE;
    if (flags.x > 0.5) return alpha < flags.y;
    return false;
}
