#version 330 core
// Toon pass, step 1 (geometry): cel-shaded colour plus a G-buffer (view depth,
// part label, shading normal) that the outline step reads. Same skinning and camera as the UDP
// pass, so pixel (x, y) of both shows the same surface point.
// SKINNED: the vertices come skinned (ToonPass(skin_once=True) skins a pose once
// with glsl/skin_feedback.glsl and draws it from every camera); the same
// expressions as below, so the same pixels. ALPHA_RULE: some MASK/BLEND
// material or single-sided face (SkinnedGeometry.alpha_rule); without it no
// fragment is ever discarded, and the shader has no discard (a cheaper raster).
// FACE_RULE: the character has a face region the style lights near flat, or a neck it shades (in_face,
// u_face_forward).
// SHADE_PER_VERTEX: its materials' MToon shade colours differ (in_shade); else one, u_shade_color.
// (Each per-vertex input costs the raster; the fit's toon renders use neither.)

#if defined VERTEX_SHADER
#include "include/skinning.glsl"

uniform mat4 u_view;       // character space -> eye
uniform mat4 u_view_proj;  // flip_y * proj * view, computed on the host in f64 (same as the UDP pass)
in vec3 in_normal;
in vec2 in_uv;
in vec4 in_color;          // COLOR_0 (linear), ones when the mesh has none
in int in_part;
in vec3 in_alpha;          // glTF alpha mode, cutoff, double-sided (include/alpha.glsl)
#if defined FACE_RULE
in vec2 in_face;           // x 0..1: how much the vertex belongs to the face (shaders/material.py face_region);
                           // y 0/1: the neck under the chin, in shade (neck_region); 0 where the style has it off
#endif
#if defined SHADE_PER_VERTEX
in vec4 in_shade;          // MToon shade colour (linear) of the vertex's material, a = 1; a = 0: none (shaders/material.py)
#endif
#if defined SKINNED
in vec3 in_skinned;        // skinned position (character space), glsl/skin_feedback.glsl
in vec3 in_skinned_normal; // mat3(skin) * morphed normal, the same
#endif

out vec3 v_normal;         // eye space
out vec3 v_eye;            // eye-space position
out vec2 v_uv;
out vec4 v_color;
out float v_sim;
#if defined FACE_RULE
out vec2 v_face;
#endif
#if defined SHADE_PER_VERTEX
flat out vec4 v_shade;
#endif
flat out int v_part;
flat out vec3 v_alpha;

void main() {
#if defined SKINNED
    vec3 p = in_skinned;
    v_normal = mat3(u_view) * in_skinned_normal;
#else
    mat4 skin = skin_matrix();
    vec3 p = skinned_position(skin);
    // The skin matrix's linear part is fine for normals of rigid/uniformly
    // scaled joints; simulated vertices get a face normal in the fragment step.
    v_normal = mat3(u_view) * (mat3(skin) * (in_normal + morph_normal()));  // morphed normal, renormalised per fragment
#endif
    v_eye = (u_view * vec4(p, 1.0)).xyz;
    v_uv = in_uv;
    v_color = in_color;
    v_sim = in_sim.w;
#if defined FACE_RULE
    v_face = in_face;
#endif
#if defined SHADE_PER_VERTEX
    v_shade = in_shade;
#endif
    v_part = in_part;
    v_alpha = in_alpha;
    gl_Position = u_view_proj * vec4(p, 1.0);
}

#elif defined FRAGMENT_SHADER
#include "include/color.glsl"
#include "include/octahedral.glsl"
#include "include/alpha.glsl"

uniform vec4 u_base_color;     // glTF baseColorFactor (linear)
uniform sampler2D u_texture;   // baseColorTexture (sRGB texels, decoded here); 1x1 white when absent
uniform vec4 u_shade_color;    // the MToon shade colour (linear), a = 1; a = 0: none (without SHADE_PER_VERTEX)
uniform vec3 u_shade_tint;     // shade = albedo x this, where no MToon shade colour (cool: grey-lavender)
uniform vec3 u_skin_shade_tint;  // the same on skin (part SKIN): lighter and warmer
uniform bool u_skin_rule;      // the part labels tell skin apart (shaders/material.py skin_told_apart)
uniform bool u_part_lines;     // the ink draws where the labels change; false: labels inferred from colour
                               // (characters/part_labels.py) shade only, the G-buffer's part is 0 everywhere
uniform vec3 u_face_forward;   // FACE_RULE: the head's forward direction, eye space (unit)
uniform vec3 u_light;          // unit direction towards the key light, eye space
uniform vec3 u_tones;          // x: lit/shade threshold on N.L, y: shade/deep threshold, z: deep multiplier
uniform int u_stage;           // 0: solid (OPAQUE, MASK) and BLEND coverage; 1: BLEND colour, alpha-blended
uniform int u_style;           // 0 toon (three tones), 1 flat (unlit albedo), 2 soft (smooth Lambert wrap)

in vec3 v_normal;
in vec3 v_eye;
in vec2 v_uv;
in vec4 v_color;
in float v_sim;
#if defined FACE_RULE
in vec2 v_face;
#endif
#if defined SHADE_PER_VERTEX
flat in vec4 v_shade;
#endif
flat in int v_part;
flat in vec3 v_alpha;

layout(location = 0) out vec4 f_color;  // straight-alpha colour (sRGB-encoded), alpha = 1 (stage 1: layer alpha)
layout(location = 1) out vec4 f_gbuf;   // x: eye depth (> 0; 0 = background), y: part label, zw: normal (octahedral)

void main() {
    vec4 texel = texture(u_texture, v_uv);
    vec3 tex = srgb_to_linear(texel.rgb);
    vec3 albedo = u_base_color.rgb * tex * v_color.rgb;
    float alpha = material_alpha(u_base_color.a, texel.a, v_color.a);
#if defined ALPHA_RULE
    if (u_stage == 0 ? alpha_uncovered(v_alpha, alpha, gl_FrontFacing)
                     : (v_alpha.z < 0.5 && !gl_FrontFacing) || alpha <= 0.0) discard;
#endif

    vec3 n = normalize(v_normal);
    // Physics-placed vertices carry their rest normal; use the true face normal there.
    // (dFdy runs down the picture: the passes draw with clip y flipped.)
    vec3 face = normalize(cross(dFdy(v_eye), dFdx(v_eye)));
    n = normalize(mix(n, face, clamp(v_sim, 0.0, 1.0)));
    if (!gl_FrontFacing) n = -n;  // two-sided: the inside of a skirt is lit like a surface (front = cw, set by the pass)

    // The face is lit near flat (anime "face normals"): its normals bend toward the head's forward
    // direction where they face forward (dot 0 -> 0.5), so the front of the face takes one tone and
    // only its sides and the underside of the chin keep their own shading. The ink reads the true normal.
    vec3 lit_n = n;
#if defined FACE_RULE
    if (v_face.x > 0.0) {
        float bend = v_face.x * smoothstep(0.0, 0.5, dot(n, u_face_forward));
        lit_n = normalize(mix(n, u_face_forward, bend));
    }
#endif
    // Skin (part 0, Part.SKIN) without an MToon shade colour takes a lighter, warmer shadow.
    vec3 tint = u_skin_rule && v_part == 0 ? u_skin_shade_tint : u_shade_tint;
#if defined SHADE_PER_VERTEX
    vec4 mtoon = v_shade;
#else
    vec4 mtoon = u_shade_color;
#endif
    vec3 shade = mtoon.a > 0.5 ? mtoon.rgb * tex * v_color.rgb : albedo * tint;
    float ndl = dot(lit_n, u_light);
#if defined FACE_RULE
    // The neck under the chin takes the shade (the head shadows it, anime convention); where its own
    // normal turns from the light it keeps the deep tone.
    if (v_face.y > 0.5) ndl = min(ndl, u_tones.x);
#endif
    vec3 rgb = ndl > u_tones.x ? albedo : (ndl > u_tones.y ? shade : shade * u_tones.z);
    if (u_style == 1) rgb = albedo;
    if (u_style == 2) rgb = mix(shade, albedo, smoothstep(u_tones.y, u_tones.x + 0.35, ndl));

    // Coverage comes from alpha_uncovered (same rule as the UDP pass), so toon
    // alpha > 0 exactly where the UDP pass writes a = 1; a BLEND layer's own
    // alpha only mixes its colour over what is behind it (stage 1).
    f_color = vec4(linear_to_srgb(rgb), u_stage == 1 ? clamp(alpha, 0.0, 1.0) : 1.0);
    f_gbuf = vec4(-v_eye.z, u_part_lines ? float(v_part) : 0.0, oct_encode(n));
}
#endif
