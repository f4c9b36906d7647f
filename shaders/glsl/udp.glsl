#version 330 core
// Ultra-Dense Pose pass: each covered pixel gets the landmark (rest-pose
// position normalised by the character's canonical box) of the surface point
// it sees, alpha = 1; background stays (0, 0, 0, 0). Rendered into RGBA32F.

#if defined VERTEX_SHADER
#include "include/skinning.glsl"

uniform mat4 u_view_proj;  // character space -> clip (y flipped: row 0 = top in memory)
in vec3 in_landmark;       // [0, 1]^3
out vec3 v_landmark;

void main() {
    vec3 p = skinned_position(skin_matrix());
    v_landmark = in_landmark;
    gl_Position = u_view_proj * vec4(p, 1.0);
}

#elif defined FRAGMENT_SHADER
in vec3 v_landmark;
out vec4 f_udp;

void main() {
    f_udp = vec4(clamp(v_landmark, 0.0, 1.0), 1.0);
}
#endif
