#version 330 core
// Transform feedback, once per frame while some morph weight is non-zero: each
// vertex's summed morph offsets (include/morph_deltas.glsl), captured
// interleaved (position delta, normal delta) into the buffer every pass reads
// as in_morph_offset / in_morph_normal. One evaluation per vertex, however
// many triangles share it or passes draw it.

#if defined VERTEX_SHADER
#include "include/morph_deltas.glsl"

out vec3 out_offset;
out vec3 out_normal;

void main() {
    morph_sums(out_offset, out_normal);
    gl_Position = vec4(0.0);
}
#endif
