/* Conformance probe of the C reader (conrt_bridge.h): NAME [--pause].
   Opens the bridge and prints "open OK" or "open ERR CODE: message"; with
   --pause it then waits for a line on stdin (the caller changes the segment,
   e.g. truncates it); then reads a frame ("read OK|NONE|ERR ...") and sends
   a rest-pose request ("pose OK|ERR ..."). Used by engine_bridge/conformance.py. */
#define CONRT_BRIDGE_IMPLEMENTATION
#include "conrt_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void report(const char *what, int rc, const conrt_bridge *b) {
    if (rc == CONRT_OK) printf("%s OK\n", what);
    else if (rc == CONRT_NO_FRAME) printf("%s NONE\n", what);
    else printf("%s ERR %s: %s\n", what, conrt_bridge_result_name(rc), b->error);
    fflush(stdout);
}

int main(int argc, char **argv) {
    conrt_bridge b;
    conrt_pose pose;
    conrt_frame_info info;
    char line[64];
    unsigned char *px;
    int rc;
    if (argc < 2) { fprintf(stderr, "usage: probe NAME [--pause]\n"); return 2; }
    rc = conrt_bridge_open(&b, argv[1]);
    report("open", rc, &b);
    if (rc != CONRT_OK) return 0;
    if (argc > 2 && !strcmp(argv[2], "--pause") && !fgets(line, sizeof line, stdin)) return 2;
    px = malloc((size_t)b.geo.width * b.geo.height * 8);
    report("read", conrt_bridge_read_frame(&b, px, 0, &info), &b);
    memset(&pose, 0, sizeof pose);
    pose.camera_view[0] = pose.camera_view[5] = pose.camera_view[10] = pose.camera_view[15] = 1.0f;
    pose.camera_proj[0] = pose.camera_proj[5] = pose.camera_proj[10] = pose.camera_proj[15] = 1.0f;
    report("pose", conrt_bridge_send_pose(&b, &pose), &b);
    free(px);
    conrt_bridge_close(&b);
    return 0;
}
