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
// p = in_position + in_morph_offset, where in_morph_offset = sum_t weight[t] *
// delta[t] was summed this frame by glsl/morph_feedback.glsl (u_morph_active
// false: no morph is on and the attribute is not read). The landmark (UDP
// xyz) is NOT morphed: a closed lid shows its rest-pose coordinates.

uniform sampler2D u_joints;

in vec3 in_position;   // rest (bind) position, character space
in ivec4 in_joints;    // up to 4 joint indices
in vec4 in_weights;    // their weights (sum to 1)
in vec4 in_sim;        // simulated position override (xyz, weight)
in vec3 in_morph_offset;  // summed morph position delta (valid while u_morph_active)
in vec3 in_morph_normal;  // summed morph normal delta (toon pass)
uniform bool u_morph_active;

vec3 morph_offset() { return u_morph_active ? in_morph_offset : vec3(0.0); }
vec3 morph_normal() { return u_morph_active ? in_morph_normal : vec3(0.0); }

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
    vec3 p = (skin * vec4(in_position + morph_offset(), 1.0)).xyz;
    return mix(p, in_sim.xyz, in_sim.w);
}
