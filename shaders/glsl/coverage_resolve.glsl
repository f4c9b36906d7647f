#version 330 core
// Anti-aliasing by supersampled coverage: a pass draws at u_factor x the
// output size, then this step reduces each u_factor x u_factor block to one
// output pixel. Coverage (alpha) = covered samples / all samples.
// u_mode 0 (UDP, RGBA32F): xyz = the landmark of the covered sample nearest
//   the pixel centre (never a blend with the background or of two surfaces;
//   with an odd factor a fully covered pixel keeps its centre sample: the
//   value the unsupersampled pass writes);
// u_mode 1 (toon colour, straight-alpha sRGB): rgb = mean of the covered
//   samples' colours in linear light, alpha = coverage.
// (UdpPass(coverage=k)'s occupancy samples are reduced on the host, at the
// silhouette only: shaders/coverage.py resolve_coverage.)

#if defined VERTEX_SHADER
#include "include/fullscreen_triangle.glsl"

#elif defined FRAGMENT_SHADER
#include "include/color.glsl"

uniform sampler2D u_samples;  // the supersampled picture
uniform int u_factor;
uniform int u_mode;

out vec4 f_out;

void main() {
    ivec2 base = ivec2(gl_FragCoord.xy) * u_factor;
    float centre = 0.5 * float(u_factor - 1);
    int covered = 0;
    float best = 1e9;
    vec3 xyz = vec3(0.0);
    vec3 linear = vec3(0.0);
    for (int j = 0; j < u_factor; ++j) {
        for (int i = 0; i < u_factor; ++i) {
            vec4 s = texelFetch(u_samples, base + ivec2(i, j), 0);
            if (s.a <= 0.0) continue;
            covered += 1;
            float d = (float(i) - centre) * (float(i) - centre) + (float(j) - centre) * (float(j) - centre);
            if (d < best) { best = d; xyz = s.rgb; }
            linear += srgb_to_linear(s.rgb);
        }
    }
    float coverage = float(covered) / float(u_factor * u_factor);
    if (covered == 0) {
        f_out = vec4(0.0);
    } else if (u_mode == 0) {
        f_out = vec4(xyz, coverage);
    } else {
        f_out = vec4(linear_to_srgb(linear / float(covered)), coverage);
    }
}
#endif
