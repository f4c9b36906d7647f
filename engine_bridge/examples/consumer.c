/* A sample engine-side consumer of the conrt bridge, in plain C.

   Build:  cc -std=gnu11 -O2 -I engine_bridge/include engine_bridge/examples/consumer.c -o consumer
   Run:    conrt bridge --name demo &   ./consumer demo --frames 300 --poses --out last.pam

   It attaches to the bridge, optionally sends pose requests (5 joints in a
   swinging line, an orbiting camera), reads frames as they come, optionally
   verifies the CRC-32 stamp of `conrt bridge --checksum` frames, writes the
   last frame as a PAM image and prints one summary line:
     frames=N dropped=N retries=N bad=N sent=N last_request=N matched=0|1 lat_us_p50=X lat_us_p99=X
   (lat = publish -> complete copy here, both CLOCK_MONOTONIC; it polls every 200 us, or
   busy-polls with --spin)
   Exit codes: 0 ok, 1 bad frames seen, 2 cannot attach or no frame for --timeout seconds (nothing new,
   or every copy torn: CONRT_E_BUSY), 3 writer died, 4 the segment broke (e.g. truncated). */
#define CONRT_BRIDGE_IMPLEMENTATION
#include "conrt_bridge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

#define MAX_SAMPLES 100000
static double latency_us[MAX_SAMPLES];

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(double *v, size_t n, double q) {
    if (!n) return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    return v[(size_t)(q * (double)(n - 1) + 0.5)];
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void make_pose(conrt_pose *pose, float *joints, double t) {
    float yaw = (float)(0.8 * t);
    memset(pose, 0, sizeof *pose);
    pose->kind = CONRT_POSE_JOINTS;
    pose->joint_count = 5;
    pose->joints = joints;
    for (int j = 0; j < 5; j++) {
        float *m = joints + 16 * j; /* row-major, translation at 3, 7, 11 */
        memset(m, 0, 16 * sizeof(float));
        m[0] = m[5] = m[10] = m[15] = 1.0f;
        m[3] = (float)((j - 2) * 0.3 * cos(t));
        m[7] = (float)((j - 2) * 0.3 * sin(t));
    }
    /* world -> eye: a rotation about +Y by -yaw (the camera turns by yaw) */
    memset(pose->camera_view, 0, sizeof pose->camera_view);
    pose->camera_view[0] = cosf(yaw);  pose->camera_view[2] = -sinf(yaw);
    pose->camera_view[5] = 1.0f;
    pose->camera_view[8] = sinf(yaw);  pose->camera_view[10] = cosf(yaw);
    pose->camera_view[15] = 1.0f;
    memset(pose->camera_proj, 0, sizeof pose->camera_proj);
    pose->camera_proj[0] = pose->camera_proj[5] = pose->camera_proj[10] = pose->camera_proj[15] = 1.0f;
}

static int write_pam(const char *path, const conrt_bridge *b, const unsigned char *px) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fprintf(f, "P7\nWIDTH %u\nHEIGHT %u\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n", b->geo.width,
            b->geo.height);
    fwrite(px, 4, (size_t)b->geo.width * b->geo.height, f);
    return fclose(f);
}

int main(int argc, char **argv) {
    const char *name = NULL, *out = NULL;
    long frames_wanted = 100;
    double timeout = 10.0;
    int checksum = 0, poses = 0, spin = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--frames") && i + 1 < argc) frames_wanted = atol(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) timeout = atof(argv[++i]);
        else if (!strcmp(argv[i], "--checksum")) checksum = 1;
        else if (!strcmp(argv[i], "--poses")) poses = 1;
        else if (!strcmp(argv[i], "--spin")) spin = 1;
        else if (argv[i][0] != '-' && !name) name = argv[i];
        else { fprintf(stderr, "usage: %s NAME [--frames N (0 = until the writer dies)] [--out F.pam] "
                               "[--timeout S] [--checksum] [--poses] [--spin]\n", argv[0]); return 2; }
    }
    if (!name) { fprintf(stderr, "consumer: no bridge name\n"); return 2; }
    crc_init();

    conrt_bridge b;
    uint64_t t0 = conrt_bridge_now_ns(), deadline = t0 + (uint64_t)(timeout * 1e9);
    int rc;
    while ((rc = conrt_bridge_open(&b, name)) != CONRT_OK) { /* the writer may still be starting */
        if (conrt_bridge_now_ns() > deadline) {
            fprintf(stderr, "consumer: %s: %s\n", conrt_bridge_result_name(rc), b.error);
            return 2;
        }
        sleep_us(10000);
    }
    printf("attached %s: %ux%u format %u, %u slots, writer pid %u\n", name, b.geo.width, b.geo.height,
           b.geo.pixel_format, b.geo.slot_count, b.writer_pid);
    fflush(stdout);

    size_t row = (size_t)b.geo.width * (b.geo.pixel_format == CONRT_FORMAT_RGBA8 ? 4 : 8);
    size_t bytes = row * b.geo.height;
    unsigned char *px = malloc(bytes);
    float joints[5 * 16];
    conrt_pose pose;
    conrt_frame_info info;
    uint64_t frames = 0, dropped = 0, retries = 0, bad = 0, sent = 0, last_sent = 0, last_request = 0;
    int matched = 0, status = 0;
    uint64_t last_frame_at = conrt_bridge_now_ns();
    while (frames_wanted == 0 || (long)frames < frames_wanted) {
        if (poses && frames % 10 == 0 && last_sent <= last_request) {
            make_pose(&pose, joints, (double)frames / 30.0);
            conrt_bridge_send_pose(&b, &pose);
            last_sent = pose.request_id;
            sent++;
        }
        rc = conrt_bridge_read_frame(&b, px, 0, &info);
        if (rc == CONRT_NO_FRAME || rc == CONRT_E_BUSY) {
            /* BUSY: every copy was torn (a writer lapping us, or one stuck mid-frame); the
               timeout covers it like "nothing new", and we back off instead of spinning */
            if (conrt_bridge_now_ns() - last_frame_at > (uint64_t)(timeout * 1e9)) {
                fprintf(stderr, "consumer: no frame for %.1f s (last result %s, writer state %d)\n", timeout,
                        conrt_bridge_result_name(rc), conrt_bridge_writer_state(&b, 1000000000ull));
                status = 2;
                break;
            }
            if (!spin || rc == CONRT_E_BUSY) sleep_us(200);
            continue;
        }
        if (rc == CONRT_E_WRITER_DEAD) {
            printf("writer dead: %s\n", b.error);
            status = 3;
            break;
        }
        if (rc != CONRT_OK) { /* e.g. CONRT_E_SEGMENT_SIZE: the segment was truncated; retrying cannot help */
            fprintf(stderr, "consumer: %s: %s\n", conrt_bridge_result_name(rc), b.error);
            status = 4;
            break;
        }
        last_frame_at = conrt_bridge_now_ns();
        if (frames < MAX_SAMPLES) latency_us[frames] = (double)(last_frame_at - info.publish_ns) / 1e3;
        frames++;
        dropped += info.dropped;
        retries += info.retries;
        if (info.request_id < last_request) bad++; /* request ids never go backwards */
        last_request = info.request_id;
        if (poses && last_request == last_sent && last_sent) matched = 1;
        if (checksum) {
            uint32_t stamp[2];
            memcpy(stamp, px + bytes - 8, 8);
            if (crc32_of(px, bytes - 8) != stamp[1] || stamp[0] != (uint32_t)info.frame_index) bad++;
        }
    }
    if (out && frames && b.geo.pixel_format == CONRT_FORMAT_RGBA8) write_pam(out, &b, px);
    size_t samples = frames < MAX_SAMPLES ? (size_t)frames : MAX_SAMPLES;
    double p50 = percentile(latency_us, samples, 0.5), p99 = percentile(latency_us, samples, 0.99);
    printf("frames=%llu dropped=%llu retries=%llu bad=%llu sent=%llu last_request=%llu matched=%d "
           "lat_us_p50=%.1f lat_us_p99=%.1f\n",
           (unsigned long long)frames, (unsigned long long)dropped, (unsigned long long)retries,
           (unsigned long long)bad, (unsigned long long)sent, (unsigned long long)last_request, matched, p50, p99);
    free(px);
    conrt_bridge_close(&b);
    if (status) return status;
    return bad ? 1 : 0;
}
