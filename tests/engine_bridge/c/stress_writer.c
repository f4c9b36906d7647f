/* A C writer at full speed: NAME FRAMES SIZE SLOTS. Every frame is filled
   with a pattern depending on its index and stamped like TestPattern
   (checksum=True): last 8 bytes = u32 index, u32 CRC-32 of the bytes before. */
#define CONRT_BRIDGE_IMPLEMENTATION
#include "conrt_bridge.h"
#include <stdio.h>
#include <stdlib.h>

static uint32_t table[256];
static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: NAME FRAMES SIZE SLOTS\n"); return 2; }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    long frames = atol(argv[2]);
    uint32_t size = (uint32_t)atoi(argv[3]), slots = (uint32_t)atoi(argv[4]);
    conrt_bridge b;
    int rc = conrt_bridge_create(&b, argv[1], size, size, CONRT_FORMAT_RGBA8, slots, 16);
    if (rc != CONRT_OK) { fprintf(stderr, "%s: %s\n", conrt_bridge_result_name(rc), b.error); return 1; }
    printf("ready\n");
    fflush(stdout);
    size_t row = (size_t)size * 4, bytes = row * size;
    unsigned char *tmp = malloc(bytes);
    conrt_pose pose;
    float joints[16 * 16];
    uint64_t request = 0;
    for (long n = 0; n < frames; n++) {
        uint64_t t0 = conrt_bridge_now_ns();
        if (conrt_bridge_read_pose(&b, &pose, joints, 16) == CONRT_OK) request = pose.request_id;
        for (size_t i = 0; i < bytes - 8; i++) tmp[i] = (unsigned char)(n * 31 + i * 7);
        uint32_t stamp[2] = {(uint32_t)n, crc32_of(tmp, bytes - 8)};
        memcpy(tmp + bytes - 8, stamp, 8);
        unsigned char *px = conrt_bridge_begin_frame(&b);
        for (uint32_t y = 0; y < size; y++) memcpy(px + (size_t)y * b.geo.stride, tmp + y * row, row);
        conrt_bridge_end_frame(&b, request, 0, t0);
    }
    free(tmp);
    printf("done %ld\n", frames);
    conrt_bridge_destroy(&b);
    return 0;
}
