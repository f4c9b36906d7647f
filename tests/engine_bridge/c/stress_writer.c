/* A C writer at full speed: NAME FRAMES SIZE SLOTS (SIGTERM stops it).
   Frame n is filled with 64-bit little-endian words w[i] = n * 0x9E3779B97F4A7C15 + i,
   so a reader can check every byte of every frame: a torn frame (parts of
   two frames) cannot pass. Cheap per frame, so it really runs flat out. */
#define CONRT_BRIDGE_IMPLEMENTATION
#include "conrt_bridge.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: NAME FRAMES SIZE SLOTS\n"); return 2; }
    signal(SIGTERM, on_term); /* stop cleanly: destroy unlinks the segment */
    long frames = atol(argv[2]), n;
    uint32_t size = (uint32_t)atoi(argv[3]), slots = (uint32_t)atoi(argv[4]);
    conrt_bridge b;
    int rc = conrt_bridge_create(&b, argv[1], size, size, CONRT_FORMAT_RGBA8, slots, 16, 0);
    if (rc != CONRT_OK) { fprintf(stderr, "%s: %s\n", conrt_bridge_result_name(rc), b.error); return 1; }
    printf("ready\n");
    fflush(stdout);
    size_t words_per_row = (size_t)size * 4 / 8;
    conrt_pose pose;
    float joints[16 * 16];
    uint64_t request = 0;
    for (n = 0; n < frames && !stop; n++) {
        uint64_t t0 = conrt_bridge_now_ns(), base = (uint64_t)n * 0x9E3779B97F4A7C15ull, i = 0;
        if (conrt_bridge_read_pose(&b, &pose, joints, 16) == CONRT_OK) request = pose.request_id;
        unsigned char *px = conrt_bridge_begin_frame(&b);
        for (uint32_t y = 0; y < size; y++) {
            uint64_t *row = (uint64_t *)(px + (size_t)y * b.geo.stride);
            for (size_t k = 0; k < words_per_row; k++) row[k] = base + i++;
        }
        conrt_bridge_end_frame(&b, request, 0, t0);
    }
    printf("done %ld\n", n);
    conrt_bridge_destroy(&b);
    return 0;
}
