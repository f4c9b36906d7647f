// The visibility buffer's depth channel (glsl/udp_vbuf.glsl, glsl/correspondence_vbuf.glsl): the
// fragment's eye-space depth in units of the character's height, from its window depth and the
// camera's projection (shaders/camera.py eye_depth_coefficients: orthographic or perspective),
// what the fusion's ink rule compares with the toon pass's contour step (runtime/nn/lookup_net.py
// far_side, shaders/toon_pass.py CONTOUR_DEPTH_STEP).
uniform vec4 u_eye_depth;  // (p33, p23, h p32, h p22) of the projection p, h the character's height

float eye_depth() {
    float z = 2.0 * gl_FragCoord.z - 1.0;  // NDC depth (the default depth range 0..1)
    return (z * u_eye_depth.x - u_eye_depth.y) / (z * u_eye_depth.z - u_eye_depth.w);
}
