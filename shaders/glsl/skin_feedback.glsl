#version 330 core
// Transform feedback: the skinned (and sim-overridden) position of every
// vertex: the UDP pass's positions for all its draws (skinned once a frame),
// and read back to check the GPU skinning against the NumPy reference and to
// frame the posed character without a CPU skinning pass.

#if defined VERTEX_SHADER
#include "include/skinning.glsl"

out vec3 out_position;

void main() {
    out_position = skinned_position(skin_matrix());
    gl_Position = vec4(out_position, 1.0);
}
#endif
