// The UDP pass's varyings (the UdpVertex block's members), written once for
// every stage that declares the block: the vertex stage's output, the
// geometry stage's input and output (glsl/udp_vbuf.glsl), the fragment
// stage's input. GLSL wants the block declared in each stage; the members
// must match, so they live here.
// With ALPHA_RULE defined (a character with MASK/BLEND materials or
// single-sided faces: SkinnedGeometry.alpha_rule) they carry what the alpha
// rules read; without it the landmark alone: on llvmpipe every varying costs
// set-up work per triangle (the UDP draw with the visibility buffer's geometry
// stage: ~0.8x its time without the three unused ones, the same pixels).
#if defined ALPHA_RULE
#define UDP_VERTEX_MEMBERS vec3 landmark; vec2 uv; float color_alpha; flat vec3 alpha;
#else
#define UDP_VERTEX_MEMBERS vec3 landmark;
#endif
