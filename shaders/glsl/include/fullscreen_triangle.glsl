// Vertex stage of a full-screen pass: one triangle covering the viewport,
// made from gl_VertexID alone (draw 3 vertices, no vertex buffer), at the
// clip depth FULLSCREEN_DEPTH (0: mid-range; a pass that depth-tests it sets it).
#ifndef FULLSCREEN_DEPTH
#define FULLSCREEN_DEPTH 0.0
#endif
void main() {
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(p * 2.0 - 1.0, FULLSCREEN_DEPTH, 1.0);
}
