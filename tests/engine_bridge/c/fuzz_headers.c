/* Reads cases from stdin: each is a u64 "actual segment size" + 128 header
   bytes; prints the parse result code of each, one per line. */
#define CONRT_BRIDGE_IMPLEMENTATION
#include "conrt_bridge.h"
#include <stdio.h>

int main(void) {
    unsigned char buf[8 + CONRT_HEADER_SIZE];
    char err[192];
    while (fread(buf, 1, sizeof buf, stdin) == sizeof buf) {
        uint64_t size;
        conrt_bridge_geometry g;
        memcpy(&size, buf, 8);
        printf("%d\n", conrt_bridge_parse_header(buf + 8, size, &g, err, sizeof err));
    }
    return 0;
}
