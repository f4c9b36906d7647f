// The UDP pass's varyings (the UdpVertex block's members), written once for
// every stage that declares the block: the vertex stage's output, the
// geometry stage's input and output (glsl/udp_vbuf.glsl), the fragment
// stage's input. GLSL wants the block declared in each stage; the members
// must match, so they live here.
#define UDP_VERTEX_MEMBERS vec3 landmark; vec2 uv; float color_alpha; flat vec3 alpha;
