// Linear-blend skinning shared by every pass that draws a character, so all
// passes put each vertex at the same place (gl_Position is `invariant`: the
// UDP and toon passes cover exactly the same pixels).
//
// u_joints: RGBA32F texture, 4 texels wide, one row per joint; texel (c, j) is
// column c of joint j's skinning matrix (joint_world @ inverse_bind). A texture
// rather than a uniform array so any joint count fits.
// in_sim: per-vertex override for simulated vertices: xyz = position in
// character space, w = blend weight (1 = physics owns the vertex, 0 = skinned).
//
// Morph targets (blendshapes) move the rest position before skinning:
// p = in_position + sum_t weight[t] * delta[t]. Sparse, so vertices no target
// touches cost one branch: in_morph = (first entry, entry count) of this
// vertex in u_morph_deltas (RGBA32F, 4096 texels wide; entry k is texel 2k =
// position delta xyz + target index in w, texel 2k+1 = normal delta xyz);
// u_morph_weights holds one weight per target (R32F, 1 row). The landmark
// (UDP xyz) is NOT morphed: a closed lid shows its rest-pose coordinates.

uniform sampler2D u_joints;

in vec3 in_position;   // rest (bind) position, character space
in ivec4 in_joints;    // up to 4 joint indices
in vec4 in_weights;    // their weights (sum to 1)
in vec4 in_sim;        // simulated position override (xyz, weight)
in ivec2 in_morph;     // (first entry, count) in u_morph_deltas

uniform bool u_morph_active;         // some weight is non-zero this frame
uniform sampler2D u_morph_deltas;
uniform sampler2D u_morph_weights;

ivec2 morph_texel(int i) { return ivec2(i & 4095, i >> 12); }

// offset 0: position deltas, 1: normal deltas
vec3 morph_sum(int offset) {
    vec3 d = vec3(0.0);
    if (u_morph_active) {
        for (int k = 0; k < in_morph.y; ++k) {
            int e = 2 * (in_morph.x + k);
            float w = texelFetch(u_morph_weights, ivec2(int(texelFetch(u_morph_deltas, morph_texel(e), 0).w), 0), 0).r;
            d += w * texelFetch(u_morph_deltas, morph_texel(e + offset), 0).xyz;
        }
    }
    return d;
}

invariant gl_Position;

mat4 joint_matrix(int j) {
    return mat4(texelFetch(u_joints, ivec2(0, j), 0),
                texelFetch(u_joints, ivec2(1, j), 0),
                texelFetch(u_joints, ivec2(2, j), 0),
                texelFetch(u_joints, ivec2(3, j), 0));
}

// Blend the matrices first, then transform (same order as the NumPy reference
// in conrt.characters.posing.skin_vertices).
mat4 skin_matrix() {
    return in_weights.x * joint_matrix(in_joints.x)
         + in_weights.y * joint_matrix(in_joints.y)
         + in_weights.z * joint_matrix(in_joints.z)
         + in_weights.w * joint_matrix(in_joints.w);
}

vec3 skinned_position(mat4 skin) {
    vec3 p = (skin * vec4(in_position + morph_sum(0), 1.0)).xyz;
    return mix(p, in_sim.xyz, in_sim.w);
}
