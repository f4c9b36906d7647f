#version 330 core
// Transform feedback: the skinned (and sim-overridden) position of every
// vertex: the UDP pass's positions for all its draws (skinned once a frame),
// and read back to check the GPU skinning against the NumPy reference and to
// frame the posed character without a CPU skinning pass. With NORMALS defined
// also the skinned normal (character space, not normalised), the toon pass's
// ToonPass(skin_once=True) input: the same expression as glsl/toon.glsl's.

#if defined VERTEX_SHADER
#include "include/skinning.glsl"

out vec3 out_position;
#if defined NORMALS
in vec3 in_normal;
out vec3 out_normal;
#endif

void main() {
    mat4 skin = skin_matrix();
    out_position = skinned_position(skin);
#if defined NORMALS
    out_normal = mat3(skin) * (in_normal + morph_normal());
#endif
    gl_Position = vec4(out_position, 1.0);
}
#endif
