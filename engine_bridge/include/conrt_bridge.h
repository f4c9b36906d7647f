/* conrt_bridge.h - conrt engine bridge (frames out, poses in) over POSIX
   shared memory. Single-header C99 reader AND writer, no allocation.

   USAGE
     Needs POSIX (shm_open, mmap, clock_gettime): build with -std=gnu11, or
     define _POSIX_C_SOURCE=200809L with -std=c11. In exactly one C/C++ file:
         #define CONRT_BRIDGE_IMPLEMENTATION
         #include "conrt_bridge.h"
     Everywhere else just include it. Link with -lrt on glibc < 2.34.
     Define CONRT_BRIDGE_STATIC to make every function static.

   ENGINE (reader) SIDE
         conrt_bridge b;
         if (conrt_bridge_open(&b, "mybridge") != CONRT_OK) { puts(b.error); ... }
         // b.geo.width, b.geo.height, b.geo.pixel_format (CONRT_FORMAT_RGBA8/RGBA16F)
         conrt_pose pose = {0};  pose.kind = CONRT_POSE_JOINTS; ... ;
         conrt_bridge_send_pose(&b, &pose);          // pose.request_id set if 0
         conrt_frame_info info;
         int rc = conrt_bridge_read_frame(&b, dst, dst_stride, &info);
           // CONRT_OK: dst holds a complete frame (never torn), info says which
           // CONRT_NO_FRAME: nothing new; CONRT_E_WRITER_DEAD: the writer is gone
           // CONRT_E_BUSY: every copy was torn (retry later, count it towards your timeout)
           // CONRT_E_SEGMENT_SIZE: the file was truncated under us (every call fstat()s first: no SIGBUS)
         // open refuses anything but a regular file of our effective uid with mode 0600
         // (CONRT_E_FILE_TYPE for a FIFO/directory/symlink, CONRT_E_PERMISSIONS)
         conrt_bridge_close(&b);

   RUNTIME (writer) SIDE
         conrt_bridge_create(&b, "mybridge", 256, 256, CONRT_FORMAT_RGBA8, 3, 256, 0);  // 0: any joint count
         unsigned char *px = conrt_bridge_begin_frame(&b);   // rows of b.geo.stride bytes
         ... fill px ...
         conrt_bridge_end_frame(&b, request_id, request_time_ns, render_start_ns);
         conrt_bridge_heartbeat(&b);                 // at least every heartbeat_period_ms
         conrt_bridge_destroy(&b);                   // marks the writer gone, unlinks

   LAYOUT (version 2; engine_bridge/PROTOCOL.md is the spec)
     Little-endian, naturally aligned, no padding. [0,128) header; the pose
     region at header.pose_offset (256 fixed bytes + max_joints 4x4 f32
     matrices); header.slot_count frame slots at header.frames_offset, each
     header.slot_size bytes: a 64-byte slot header then height rows of
     header.stride bytes, row 0 = top, RGBA, premultiplied alpha.
     Matrices are row-major 4x4 f32 for column vectors (translation at
     [3], [7], [11]): transpose Unity's / GL's column-major Matrix4x4.

   MEMORY ORDERING
     Every seq/counter is an aligned 8-byte word accessed with __atomic
     builtins. Writer: seq+1 (odd), release fence, data, seq+2 with release.
     Reader: seq acquire, copy, acquire fence, seq again; equal and even ->
     the copy is consistent. A reader never writes to a frame slot and never
     waits for the writer.
*/
#ifndef CONRT_BRIDGE_H
#define CONRT_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#define CONRT_BRIDGE_VERSION 2                       /* protocol version (2: header skeleton_joints) */
#define CONRT_BRIDGE_MAGIC 0x47524254524E4F43ULL      /* "CONRTBRG" little-endian */
#define CONRT_BRIDGE_HANDLE_VERSION 2                 /* version of struct conrt_bridge below */
#define CONRT_HEADER_SIZE 128u
#define CONRT_SLOT_HEADER_SIZE 64u
#define CONRT_POSE_FIXED_SIZE 256u
#define CONRT_JOINT_SIZE 64u
#define CONRT_CLIP_NAME_BYTES 64u
#define CONRT_MAX_DIM 16384u
#define CONRT_MAX_SLOTS 64u
#define CONRT_MAX_JOINTS 1024u
#define CONRT_MAX_SEGMENT (1ULL << 34)
#define CONRT_OWNER_ONLY_MODE 0600                     /* exact permission bits a reader accepts */
#define CONRT_MAX_ABS_JOINT_VALUE 1e4                  /* pose requests: |joint matrix entry| */
#define CONRT_MAX_ABS_CLIP_TIME 1e6                    /* pose requests: |clip_time| seconds */
#define CONRT_SHM_PREFIX "/conrt-bridge."              /* shm_open name = prefix + bridge name */

#define CONRT_FORMAT_RGBA8 1u                          /* 4 x uint8 */
#define CONRT_FORMAT_RGBA16F 2u                        /* 4 x IEEE half */
#define CONRT_FLAG_PREMULTIPLIED 1u
#define CONRT_FLAG_ROW0_TOP 2u
#define CONRT_POSE_NONE 0u
#define CONRT_POSE_JOINTS 1u
#define CONRT_POSE_CLIP 2u

/* Return codes: >= 0 success, < 0 error. b->error has a sentence for errors. */
enum {
    CONRT_OK = 0,
    CONRT_NO_FRAME = 1,           /* nothing new since the last read (not an error) */
    CONRT_E_ARG = -1,             /* bad argument (NULL, size out of range) */
    CONRT_E_NAME = -2,            /* bad bridge name */
    CONRT_E_SYS = -3,             /* a system call failed; errno is kept */
    CONRT_E_MAGIC = -4,           /* not a conrt bridge, or not initialised yet */
    CONRT_E_VERSION = -5,         /* protocol version mismatch */
    CONRT_E_HEADER_SIZE = -6,     /* header size mismatch */
    CONRT_E_SEGMENT_SIZE = -7,    /* header's segment size != the real size */
    CONRT_E_FORMAT = -8,          /* unknown pixel format */
    CONRT_E_GEOMETRY = -9,        /* sizes/offsets that do not fit the segment */
    CONRT_E_PERMISSIONS = -10,    /* segment not ours or not owner-only */
    CONRT_E_IN_USE = -11,         /* create: a live writer owns the name */
    CONRT_E_BUSY = -12,           /* read: every copy was torn (writer lapping us) */
    CONRT_E_WRITER_DEAD = -13,    /* the writer process is gone or closed the bridge */
    CONRT_E_BUFFER = -14,         /* destination too small */
    CONRT_E_POSE = -15,           /* bad pose request */
    CONRT_E_FILE_TYPE = -16       /* the name is a FIFO, directory, symlink, ... not a regular file */
};

enum { CONRT_WRITER_ALIVE = 0, CONRT_WRITER_STALLED = 1, CONRT_WRITER_DEAD = 2 };

/* ---- shared-memory structs (fixed layout, mirrored by protocol.py) ---- */
typedef struct conrt_bridge_header {
    uint64_t magic;               /*   0 CONRT_BRIDGE_MAGIC, written last */
    uint32_t version;             /*   8 CONRT_BRIDGE_VERSION */
    uint32_t header_size;         /*  12 sizeof(conrt_bridge_header) */
    uint64_t segment_size;        /*  16 total bytes */
    uint32_t width;               /*  24 */
    uint32_t height;              /*  28 */
    uint32_t stride;              /*  32 bytes per row */
    uint32_t pixel_format;        /*  36 CONRT_FORMAT_* */
    uint32_t flags;               /*  40 CONRT_FLAG_* */
    uint32_t slot_count;          /*  44 */
    uint64_t slot_size;           /*  48 bytes per slot incl. its header */
    uint64_t frames_offset;       /*  56 */
    uint64_t pose_offset;         /*  64 */
    uint32_t pose_size;           /*  72 */
    uint32_t max_joints;          /*  76 */
    uint32_t writer_pid;          /*  80 0 = writer closed */
    uint32_t heartbeat_period_ms; /*  84 */
    uint64_t heartbeat_ns;        /*  88 CLOCK_MONOTONIC */
    uint64_t frames_published;    /*  96 latest frame index + 1 */
    uint64_t writer_start_ticks;  /* 104 /proc/<pid>/stat starttime, 0 unknown */
    uint64_t pid_ns_inode;        /* 112 inode of /proc/self/ns/pid, 0 unknown */
    uint32_t skeleton_joints;     /* 120 joints a JOINTS request must send, 0 = any up to max_joints */
    uint32_t reserved;            /* 124 */
} conrt_bridge_header;

typedef struct conrt_slot_header {
    uint64_t seq;                 /*  0 odd while being written */
    uint64_t frame_index;         /*  8 */
    uint64_t request_id;          /* 16 */
    uint64_t request_time_ns;     /* 24 engine clock, echoed */
    uint64_t render_start_ns;     /* 32 */
    uint64_t publish_ns;          /* 40 */
    uint64_t reserved[2];         /* 48 */
} conrt_slot_header;

typedef struct conrt_pose_header {
    uint64_t seq;                 /*   0 seqlock, written by the engine */
    uint64_t request_id;          /*   8 */
    uint64_t request_time_ns;     /*  16 */
    uint32_t kind;                /*  24 CONRT_POSE_* */
    uint32_t joint_count;         /*  28 */
    uint32_t engine_pid;          /*  32 */
    uint32_t reserved0;           /*  36 */
    double clip_time;             /*  40 seconds */
    char clip_name[64];           /*  48 UTF-8, NUL-terminated */
    uint64_t reserved1[2];        /* 112 */
    float camera_view[16];        /* 128 row-major world -> eye */
    float camera_proj[16];        /* 192 row-major eye -> clip (OpenGL) */
} conrt_pose_header;              /* then max_joints x float[16] joint world matrices */

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(conrt_bridge_header) == 128, "header layout");
_Static_assert(sizeof(conrt_slot_header) == 64, "slot header layout");
_Static_assert(sizeof(conrt_pose_header) == 256, "pose header layout");
#endif

/* ---- process-local handle (caller-allocated) ---- */
typedef struct conrt_bridge_geometry {
    uint32_t width, height, stride, pixel_format, flags, slot_count, pose_size, max_joints, skeleton_joints;
    uint64_t slot_size, frames_offset, pose_offset, segment_size;
} conrt_bridge_geometry;

typedef struct conrt_frame_info {
    uint64_t frame_index, request_id, request_time_ns, render_start_ns, publish_ns;
    uint64_t dropped;             /* frames this reader never saw since its previous read */
    uint32_t retries;             /* torn copies thrown away */
} conrt_frame_info;

typedef struct conrt_pose {       /* what an engine sends (or the writer receives) */
    uint64_t request_id;          /* 0 on send: next id is picked; echoed in frames */
    uint64_t time_ns;             /* engine timestamp, echoed; 0 on send: now */
    uint32_t kind;                /* CONRT_POSE_* */
    uint32_t joint_count;
    const float *joints;          /* send: joint_count x 16 floats, row-major */
    char clip_name[64];
    double clip_time;
    float camera_view[16], camera_proj[16];
} conrt_pose;

typedef struct conrt_bridge {
    uint32_t struct_size;         /* sizeof(conrt_bridge) at build time */
    uint32_t struct_version;      /* CONRT_BRIDGE_HANDLE_VERSION */
    int fd, is_writer, sys_errno;
    unsigned char *base;
    uint64_t size;
    conrt_bridge_geometry geo;
    uint32_t writer_pid;
    uint64_t writer_start_ticks, pid_ns_inode;
    int64_t last_index;           /* reader: last frame index read (-1 none) */
    uint64_t next_frame;          /* writer: next frame index */
    uint64_t next_request;        /* reader: next pose request id */
    uint64_t pose_seq_seen;       /* writer: last pose seq consumed */
    char path[256];
    char error[192];
} conrt_bridge;

#ifdef CONRT_BRIDGE_STATIC
#define CONRT_DEF static
#else
#define CONRT_DEF extern
#endif

#ifdef __cplusplus
extern "C" {
#endif
/* reader */
CONRT_DEF int conrt_bridge_open(conrt_bridge *b, const char *name);
CONRT_DEF int conrt_bridge_read_frame(conrt_bridge *b, void *dst, uint64_t dst_stride, conrt_frame_info *info);
CONRT_DEF int conrt_bridge_send_pose(conrt_bridge *b, conrt_pose *pose);
CONRT_DEF int conrt_bridge_writer_state(conrt_bridge *b, uint64_t stale_ns);
CONRT_DEF void conrt_bridge_close(conrt_bridge *b);
/* writer */
CONRT_DEF int conrt_bridge_create(conrt_bridge *b, const char *name, uint32_t width, uint32_t height,
                                  uint32_t pixel_format, uint32_t slot_count, uint32_t max_joints,
                                  uint32_t skeleton_joints);
CONRT_DEF unsigned char *conrt_bridge_begin_frame(conrt_bridge *b);
CONRT_DEF int conrt_bridge_end_frame(conrt_bridge *b, uint64_t request_id, uint64_t request_time_ns,
                                     uint64_t render_start_ns);
CONRT_DEF int conrt_bridge_heartbeat(conrt_bridge *b);
CONRT_DEF int conrt_bridge_read_pose(conrt_bridge *b, conrt_pose *out, float *joints, uint32_t joints_cap);
CONRT_DEF void conrt_bridge_destroy(conrt_bridge *b);
/* both */
CONRT_DEF int conrt_bridge_parse_header(const void *mem, uint64_t actual_size, conrt_bridge_geometry *geo,
                                        char *err, size_t err_len);
CONRT_DEF uint64_t conrt_bridge_now_ns(void);
CONRT_DEF const char *conrt_bridge_result_name(int rc);
#ifdef __cplusplus
}
#endif
#endif /* CONRT_BRIDGE_H */

/* ======================================================================= */
#ifdef CONRT_BRIDGE_IMPLEMENTATION
#ifndef CONRT_BRIDGE_IMPLEMENTED
#define CONRT_BRIDGE_IMPLEMENTED

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONRT__LD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define CONRT__LD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define CONRT__ST_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define CONRT__ST(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int conrt__fail(char *err, size_t len, int rc, const char *fmt, ...) {
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

CONRT_DEF uint64_t conrt_bridge_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

CONRT_DEF const char *conrt_bridge_result_name(int rc) {
    switch (rc) {
    case CONRT_OK: return "CONRT_OK";
    case CONRT_NO_FRAME: return "CONRT_NO_FRAME";
    case CONRT_E_ARG: return "CONRT_E_ARG";
    case CONRT_E_NAME: return "CONRT_E_NAME";
    case CONRT_E_SYS: return "CONRT_E_SYS";
    case CONRT_E_MAGIC: return "CONRT_E_MAGIC";
    case CONRT_E_VERSION: return "CONRT_E_VERSION";
    case CONRT_E_HEADER_SIZE: return "CONRT_E_HEADER_SIZE";
    case CONRT_E_SEGMENT_SIZE: return "CONRT_E_SEGMENT_SIZE";
    case CONRT_E_FORMAT: return "CONRT_E_FORMAT";
    case CONRT_E_GEOMETRY: return "CONRT_E_GEOMETRY";
    case CONRT_E_PERMISSIONS: return "CONRT_E_PERMISSIONS";
    case CONRT_E_IN_USE: return "CONRT_E_IN_USE";
    case CONRT_E_BUSY: return "CONRT_E_BUSY";
    case CONRT_E_WRITER_DEAD: return "CONRT_E_WRITER_DEAD";
    case CONRT_E_BUFFER: return "CONRT_E_BUFFER";
    case CONRT_E_POSE: return "CONRT_E_POSE";
    case CONRT_E_FILE_TYPE: return "CONRT_E_FILE_TYPE";
    default: return "CONRT_E_UNKNOWN";
    }
}

static uint32_t conrt__bpp(uint32_t fmt) { return fmt == CONRT_FORMAT_RGBA8 ? 4u : 8u; }
static uint64_t conrt__align(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

/* Checks mirror Geometry.check() in protocol.py; every value is bounded
   before it enters a sum or product, so nothing overflows. */
CONRT_DEF int conrt_bridge_parse_header(const void *mem, uint64_t actual_size, conrt_bridge_geometry *g,
                                        char *err, size_t n) {
    conrt_bridge_header h;
    uint64_t row, end;
    if (!mem || !g) return conrt__fail(err, n, CONRT_E_ARG, "NULL argument");
    if (actual_size < CONRT_HEADER_SIZE)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "%llu bytes is smaller than the %u-byte header",
                           (unsigned long long)actual_size, CONRT_HEADER_SIZE);
    memcpy(&h, mem, sizeof h);
    if (h.magic != CONRT_BRIDGE_MAGIC)
        return conrt__fail(err, n, CONRT_E_MAGIC, "bad magic %#llx, expected %#llx (not a conrt bridge or not ready)",
                           (unsigned long long)h.magic, (unsigned long long)CONRT_BRIDGE_MAGIC);
    if (h.version != CONRT_BRIDGE_VERSION)
        return conrt__fail(err, n, CONRT_E_VERSION, "protocol version %u in the segment, this reader speaks %u",
                           h.version, CONRT_BRIDGE_VERSION);
    if (h.header_size != CONRT_HEADER_SIZE)
        return conrt__fail(err, n, CONRT_E_HEADER_SIZE, "header size %u in the segment, expected %u",
                           h.header_size, CONRT_HEADER_SIZE);
    if (h.segment_size != actual_size)
        return conrt__fail(err, n, CONRT_E_SEGMENT_SIZE, "header says %llu bytes, the segment has %llu",
                           (unsigned long long)h.segment_size, (unsigned long long)actual_size);
    if (h.pixel_format != CONRT_FORMAT_RGBA8 && h.pixel_format != CONRT_FORMAT_RGBA16F)
        return conrt__fail(err, n, CONRT_E_FORMAT, "unknown pixel format %u; known: 1 (RGBA8), 2 (RGBA16F)",
                           h.pixel_format);
    if (h.width < 1 || h.width > CONRT_MAX_DIM || h.height < 1 || h.height > CONRT_MAX_DIM)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "frame size %ux%u outside 1..%u", h.width, h.height, CONRT_MAX_DIM);
    if (h.slot_count < 1 || h.slot_count > CONRT_MAX_SLOTS)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "slot count %u outside 1..%u", h.slot_count, CONRT_MAX_SLOTS);
    if (h.max_joints > CONRT_MAX_JOINTS)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "max joints %u above %u", h.max_joints, CONRT_MAX_JOINTS);
    if (h.skeleton_joints > h.max_joints)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "skeleton joints %u above the pose region's max joints %u",
                           h.skeleton_joints, h.max_joints);
    row = (uint64_t)h.width * conrt__bpp(h.pixel_format);
    if (h.stride < row || h.stride > row + 4096 || h.stride % 4)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "stride %u does not fit rows of %llu bytes", h.stride,
                           (unsigned long long)row);
    if (h.slot_size > CONRT_MAX_SEGMENT || h.frames_offset > CONRT_MAX_SEGMENT || h.pose_offset > CONRT_MAX_SEGMENT
        || h.segment_size > CONRT_MAX_SEGMENT)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "offsets/sizes beyond %llu bytes",
                           (unsigned long long)CONRT_MAX_SEGMENT);
    if (h.slot_size < CONRT_SLOT_HEADER_SIZE + (uint64_t)h.stride * h.height || h.slot_size % 64)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "slot size %llu too small for %u rows of %u bytes",
                           (unsigned long long)h.slot_size, h.height, h.stride);
    if (h.pose_size != CONRT_POSE_FIXED_SIZE + CONRT_JOINT_SIZE * h.max_joints)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "pose region size %u does not match %u joints", h.pose_size,
                           h.max_joints);
    if (h.pose_offset < CONRT_HEADER_SIZE || h.pose_offset % 64)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "pose region offset %llu overlaps the header or is unaligned",
                           (unsigned long long)h.pose_offset);
    if (h.frames_offset % 64 || h.frames_offset < h.pose_offset + h.pose_size)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "frames offset %llu overlaps the pose region or is unaligned",
                           (unsigned long long)h.frames_offset);
    end = h.frames_offset + (uint64_t)h.slot_count * h.slot_size;
    if (end > h.segment_size)
        return conrt__fail(err, n, CONRT_E_GEOMETRY, "frame slots end at byte %llu, past the segment size %llu",
                           (unsigned long long)end, (unsigned long long)h.segment_size);
    g->width = h.width; g->height = h.height; g->stride = h.stride; g->pixel_format = h.pixel_format;
    g->flags = h.flags; g->slot_count = h.slot_count; g->pose_size = h.pose_size; g->max_joints = h.max_joints;
    g->slot_size = h.slot_size; g->frames_offset = h.frames_offset; g->pose_offset = h.pose_offset;
    g->segment_size = h.segment_size; g->skeleton_joints = h.skeleton_joints;
    return CONRT_OK;
}

static int conrt__path(conrt_bridge *b, const char *name) {
    size_t i, len = name ? strlen(name) : 0;
    if (len < 1 || len > 200 || name[0] == '.')
        return conrt__fail(b->error, sizeof b->error, CONRT_E_NAME, "bad bridge name (1-200 of A-Za-z0-9_.-)");
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'
              || c == '.'))
            return conrt__fail(b->error, sizeof b->error, CONRT_E_NAME, "bad character in bridge name");
    }
    snprintf(b->path, sizeof b->path, "%s%s", CONRT_SHM_PREFIX, name);
    return CONRT_OK;
}

static void conrt__init(conrt_bridge *b) {
    memset(b, 0, sizeof *b);
    b->struct_size = (uint32_t)sizeof *b;
    b->struct_version = CONRT_BRIDGE_HANDLE_VERSION;
    b->fd = -1;
    b->last_index = -1;
    b->next_request = 1;
}

static int conrt__sys(conrt_bridge *b, const char *what) {
    b->sys_errno = errno;
    return conrt__fail(b->error, sizeof b->error, CONRT_E_SYS, "%s %s: %s", what, b->path, strerror(errno));
}

/* /proc/<pid>/stat: state (field 3) and starttime (field 22). 0 = cannot tell. */
static int conrt__proc_stat(uint32_t pid, char *state, uint64_t *start) {
#ifdef __linux__
    char path[64], buf[1024], *p;
    int fd, i;
    ssize_t got;
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0) return 0;
    buf[got] = 0;
    p = strrchr(buf, ')');
    if (!p || p[1] != ' ') return 0;
    *state = p[2];
    p += 2;
    for (i = 0; i < 19 && p; i++) { p = strchr(p, ' '); if (p) p++; }
    *start = p ? strtoull(p, NULL, 10) : 0;
    return 1;
#else
    (void)pid; (void)state; (void)start;
    return 0;
#endif
}

static uint64_t conrt__pid_ns(void) {
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* 1 alive, 0 dead, -1 cannot tell (another pid namespace) */
static int conrt__alive(uint32_t pid, uint64_t start_ticks, uint64_t ns_inode) {
    char state = 0;
    uint64_t start = 0, own_ns = conrt__pid_ns();
    if (pid == 0 || pid > 0x7fffffffu) return 0;
    if (ns_inode && own_ns && ns_inode != own_ns) return -1;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return 0;
    if (conrt__proc_stat(pid, &state, &start)) {
        if (state == 'Z' || state == 'X') return 0;
        if (start_ticks && start != start_ticks) return 0; /* pid reused */
    }
    return 1;
}

static const char *conrt__kind(mode_t m) {
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISLNK(m) ? "a symbolic link"
         : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) || S_ISBLK(m) ? "a device" : "not a regular file";
}

/* Open b->path only if it is a regular file: O_NOFOLLOW refuses symlinks,
   O_NONBLOCK keeps a FIFO from blocking the open, fstat checks what we hold. */
static int conrt__open_regular(conrt_bridge *b, int flags, struct stat *st) {
    char shm_path[300];
    struct stat link;
    b->fd = shm_open(b->path, flags | O_NONBLOCK | O_NOFOLLOW, 0);
    if (b->fd < 0) {
        int err = errno;
        /* glibc reports a directory as EINVAL, a symlink as ELOOP: name what is there (Linux keeps
           shm objects in /dev/shm) */
        snprintf(shm_path, sizeof shm_path, "/dev/shm%s", b->path);
        if (err != ENOENT && lstat(shm_path, &link) == 0 && !S_ISREG(link.st_mode))
            return conrt__fail(b->error, sizeof b->error, CONRT_E_FILE_TYPE,
                               "%s is %s, not a bridge segment (a regular file)", b->path, conrt__kind(link.st_mode));
        errno = err;
        return conrt__sys(b, "cannot open");
    }
    if (fstat(b->fd, st) != 0) return conrt__sys(b, "cannot stat");
    if (!S_ISREG(st->st_mode))
        return conrt__fail(b->error, sizeof b->error, CONRT_E_FILE_TYPE,
                           "%s is %s, not a bridge segment (a regular file)", b->path, conrt__kind(st->st_mode));
    return CONRT_OK;
}

CONRT_DEF int conrt_bridge_open(conrt_bridge *b, const char *name) {
    struct stat st;
    void *mem;
    int rc;
    const conrt_bridge_header *h;
    if (!b) return CONRT_E_ARG;
    conrt__init(b);
    if ((rc = conrt__path(b, name)) != CONRT_OK) return rc;
    if ((rc = conrt__open_regular(b, O_RDWR, &st)) != CONRT_OK) goto fail;
    if (st.st_uid != geteuid() || (st.st_mode & 07777) != CONRT_OWNER_ONLY_MODE) {
        rc = conrt__fail(b->error, sizeof b->error, CONRT_E_PERMISSIONS,
                         "%s has uid %u mode %04o, expected ours (%u) and 0600", b->path, (unsigned)st.st_uid,
                         (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
        goto fail;
    }
    if ((uint64_t)st.st_size < CONRT_HEADER_SIZE) {
        rc = conrt__fail(b->error, sizeof b->error, CONRT_E_MAGIC, "%s is smaller than a header (not ready?)",
                         b->path);
        goto fail;
    }
    mem = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
    if (mem == MAP_FAILED) { rc = conrt__sys(b, "cannot map"); goto fail; }
    b->base = (unsigned char *)mem;
    b->size = (uint64_t)st.st_size;
    if ((rc = conrt_bridge_parse_header(b->base, b->size, &b->geo, b->error, sizeof b->error)) != CONRT_OK)
        goto fail;
    h = (const conrt_bridge_header *)b->base;
    b->writer_pid = CONRT__LD(&h->writer_pid);
    b->writer_start_ticks = h->writer_start_ticks;
    b->pid_ns_inode = h->pid_ns_inode;
    return CONRT_OK;
fail:
    conrt_bridge_close(b);
    return rc;
}

/* Touching a mapped page past the end of the file is SIGBUS: every access
   through the mapping is preceded by this fstat (PROTOCOL.md "Shrinking segments"). */
static int conrt__check_size(conrt_bridge *b) {
    struct stat st;
    if (fstat(b->fd, &st) != 0) return conrt__sys(b, "cannot stat");
    if ((uint64_t)st.st_size < b->geo.segment_size)
        return conrt__fail(b->error, sizeof b->error, CONRT_E_SEGMENT_SIZE,
                           "%s shrank to %llu bytes, the bridge needs %llu: another process truncated it",
                           b->path, (unsigned long long)st.st_size, (unsigned long long)b->geo.segment_size);
    return CONRT_OK;
}

/* ns since the heartbeat; 0 for a heartbeat ahead of our clock (PROTOCOL.md "Liveness") */
static uint64_t conrt__beat_age(const conrt_bridge_header *h) {
    uint64_t now = conrt_bridge_now_ns(), beat = CONRT__LD(&h->heartbeat_ns);
    return now > beat ? now - beat : 0;
}

static conrt_bridge_header *conrt__hdr(conrt_bridge *b) { return (conrt_bridge_header *)b->base; }
static conrt_slot_header *conrt__slot(conrt_bridge *b, uint64_t i) {
    return (conrt_slot_header *)(b->base + b->geo.frames_offset + (i % b->geo.slot_count) * b->geo.slot_size);
}
static conrt_pose_header *conrt__pose(conrt_bridge *b) {
    return (conrt_pose_header *)(b->base + b->geo.pose_offset);
}

CONRT_DEF int conrt_bridge_writer_state(conrt_bridge *b, uint64_t stale_ns) {
    conrt_bridge_header *h;
    uint32_t pid;
    int alive;
    if (!b || !b->base || conrt__check_size(b) != CONRT_OK) return CONRT_WRITER_DEAD;
    h = conrt__hdr(b);
    pid = CONRT__LD(&h->writer_pid);
    if (pid == 0 || pid != b->writer_pid) return CONRT_WRITER_DEAD;
    alive = conrt__alive(pid, b->writer_start_ticks, b->pid_ns_inode);
    if (alive == 0) return CONRT_WRITER_DEAD;
    if (conrt__beat_age(h) > stale_ns) return CONRT_WRITER_STALLED;
    return CONRT_WRITER_ALIVE;
}

CONRT_DEF int conrt_bridge_read_frame(conrt_bridge *b, void *dst, uint64_t dst_stride, conrt_frame_info *info) {
    conrt_bridge_header *h;
    uint64_t row, published, index, s1;
    uint32_t retry, y;
    int rc;
    if (!b || !b->base || !dst) return CONRT_E_ARG;
    if ((rc = conrt__check_size(b)) != CONRT_OK) return rc;
    h = conrt__hdr(b);
    row = (uint64_t)b->geo.width * conrt__bpp(b->geo.pixel_format);
    if (dst_stride == 0) dst_stride = row;
    if (dst_stride < row) return conrt__fail(b->error, sizeof b->error, CONRT_E_BUFFER, "dst stride < row bytes");
    for (retry = 0; retry < 1000; retry++) {
        conrt_slot_header *slot, meta;
        const unsigned char *src;
        published = CONRT__LD_ACQ(&h->frames_published);
        index = published - 1;
        if (published == 0 || (b->last_index >= 0 && index <= (uint64_t)b->last_index)) {
            /* look for a dead writer only once its heartbeat is late (no /proc reads per poll) */
            uint64_t late = 2000000ull * (h->heartbeat_period_ms ? h->heartbeat_period_ms : 100);
            if (conrt__beat_age(h) > late
                && conrt_bridge_writer_state(b, UINT64_MAX) == CONRT_WRITER_DEAD)
                return conrt__fail(b->error, sizeof b->error, CONRT_E_WRITER_DEAD, "writer pid %u is gone",
                                   b->writer_pid);
            return CONRT_NO_FRAME;
        }
        slot = conrt__slot(b, index);
        s1 = CONRT__LD_ACQ(&slot->seq);
        if (s1 & 1) continue;
        src = (const unsigned char *)slot + CONRT_SLOT_HEADER_SIZE;
        for (y = 0; y < b->geo.height; y++)
            memcpy((unsigned char *)dst + y * dst_stride, src + (uint64_t)y * b->geo.stride, (size_t)row);
        memcpy(&meta, slot, sizeof meta);
        __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the copies above happen before the re-check */
        if (CONRT__LD(&slot->seq) != s1 || meta.frame_index != index) continue;
        if (info) {
            info->frame_index = index;
            info->request_id = meta.request_id;
            info->request_time_ns = meta.request_time_ns;
            info->render_start_ns = meta.render_start_ns;
            info->publish_ns = meta.publish_ns;
            info->dropped = b->last_index >= 0 ? index - (uint64_t)b->last_index - 1 : 0;
            info->retries = retry;
        }
        b->last_index = (int64_t)index;
        return CONRT_OK;
    }
    /* every copy torn or the slot odd throughout: a writer killed mid-frame leaves its slot odd forever */
    if (conrt_bridge_writer_state(b, UINT64_MAX) == CONRT_WRITER_DEAD)
        return conrt__fail(b->error, sizeof b->error, CONRT_E_WRITER_DEAD,
                           "writer pid %u is gone (slot left mid-write)", b->writer_pid);
    return conrt__fail(b->error, sizeof b->error, CONRT_E_BUSY, "every copy was torn");
}

static int conrt__finite_within(const float *v, uint64_t n, double limit) {
    uint64_t i;
    for (i = 0; i < n; i++)
        if (!isfinite(v[i]) || (limit > 0 && fabs((double)v[i]) > limit)) return 0;
    return 1;
}

/* The rules of PROTOCOL.md "Pose region" (protocol.pose_problem in Python). */
static int conrt__pose_problem(conrt_bridge *b, uint64_t id, uint32_t kind, uint32_t count, const float *joints,
                               double clip_time, const float *view, const float *proj) {
    if (kind == CONRT_POSE_JOINTS && b->geo.skeleton_joints && count != b->geo.skeleton_joints)
        return conrt__fail(b->error, sizeof b->error, CONRT_E_POSE,
                           "pose request %llu: %u joints, the character has %u", (unsigned long long)id, count,
                           b->geo.skeleton_joints);
    if (!conrt__finite_within(view, 16, 0) || !conrt__finite_within(proj, 16, 0))
        return conrt__fail(b->error, sizeof b->error, CONRT_E_POSE, "pose request %llu: NaN/inf camera matrices",
                           (unsigned long long)id);
    if (kind == CONRT_POSE_JOINTS && joints
        && !conrt__finite_within(joints, (uint64_t)count * 16, CONRT_MAX_ABS_JOINT_VALUE))
        return conrt__fail(b->error, sizeof b->error, CONRT_E_POSE,
                           "pose request %llu: NaN/inf joint matrices or entries beyond +-%g", (unsigned long long)id,
                           CONRT_MAX_ABS_JOINT_VALUE);
    if (kind == CONRT_POSE_CLIP && !(isfinite(clip_time) && fabs(clip_time) <= CONRT_MAX_ABS_CLIP_TIME))
        return conrt__fail(b->error, sizeof b->error, CONRT_E_POSE, "pose request %llu: clip time %g outside +-%g s",
                           (unsigned long long)id, clip_time, CONRT_MAX_ABS_CLIP_TIME);
    return CONRT_OK;
}

CONRT_DEF int conrt_bridge_send_pose(conrt_bridge *b, conrt_pose *pose) {
    conrt_pose_header *p;
    uint64_t seq;
    int rc;
    if (!b || !b->base || !pose) return CONRT_E_ARG;
    if ((rc = conrt__check_size(b)) != CONRT_OK) return rc;
    if (pose->kind > CONRT_POSE_CLIP || pose->joint_count > b->geo.max_joints
        || (pose->kind == CONRT_POSE_JOINTS && pose->joint_count && !pose->joints))
        return conrt__fail(b->error, sizeof b->error, CONRT_E_POSE, "bad pose: kind %u, %u joints (max %u)",
                           pose->kind, pose->joint_count, b->geo.max_joints);
    if ((rc = conrt__pose_problem(b, pose->request_id, pose->kind, pose->joint_count, pose->joints, pose->clip_time,
                                  pose->camera_view, pose->camera_proj)) != CONRT_OK)
        return rc;
    if (pose->request_id == 0) pose->request_id = b->next_request;
    b->next_request = pose->request_id + 1;
    if (pose->time_ns == 0) pose->time_ns = conrt_bridge_now_ns();
    p = conrt__pose(b);
    seq = CONRT__LD(&p->seq);
    seq += seq & 1; /* an engine that died mid-write left it odd */
    CONRT__ST(&p->seq, seq + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    p->request_id = pose->request_id;
    p->request_time_ns = pose->time_ns;
    p->kind = pose->kind;
    p->joint_count = pose->kind == CONRT_POSE_JOINTS ? pose->joint_count : 0;
    p->engine_pid = (uint32_t)getpid();
    p->clip_time = pose->clip_time;
    memset(p->clip_name, 0, sizeof p->clip_name);
    if (pose->kind == CONRT_POSE_CLIP) {
        memcpy(p->clip_name, pose->clip_name, sizeof p->clip_name - 1);
    }
    memcpy(p->camera_view, pose->camera_view, sizeof p->camera_view);
    memcpy(p->camera_proj, pose->camera_proj, sizeof p->camera_proj);
    if (pose->kind == CONRT_POSE_JOINTS && pose->joint_count)
        memcpy((unsigned char *)p + CONRT_POSE_FIXED_SIZE, pose->joints,
               (size_t)pose->joint_count * CONRT_JOINT_SIZE);
    CONRT__ST_REL(&p->seq, seq + 2);
    return CONRT_OK;
}

CONRT_DEF void conrt_bridge_close(conrt_bridge *b) {
    if (!b) return;
    if (b->base) munmap(b->base, (size_t)b->size);
    if (b->fd >= 0) close(b->fd);
    b->base = NULL;
    b->fd = -1;
}

/* ---- writer ---- */

/* Dead (PROTOCOL.md "Cleanup"): writer_pid 0 or not a live process, or shorter
   than a header and at least 2 s old. Never removes another uid's file or a
   non-regular file. */
static int conrt__remove_stale(conrt_bridge *b) {
    conrt_bridge_header h;
    struct stat st;
    int alive, rc;
    ssize_t got;
    if ((rc = conrt__open_regular(b, O_RDONLY, &st)) != CONRT_OK) {
        if (b->fd < 0 && rc == CONRT_E_SYS && b->sys_errno == ENOENT) rc = CONRT_OK;
        goto out;
    }
    if (st.st_uid != geteuid()) {
        rc = conrt__fail(b->error, sizeof b->error, CONRT_E_PERMISSIONS, "%s exists and belongs to uid %u", b->path,
                         (unsigned)st.st_uid);
        goto out;
    }
    got = pread(b->fd, &h, sizeof h, 0);
    if (got == (ssize_t)sizeof h && h.writer_pid) {
        alive = conrt__alive(h.writer_pid, h.writer_start_ticks, h.pid_ns_inode);
        if (alive != 0) {
            rc = conrt__fail(b->error, sizeof b->error, CONRT_E_IN_USE, "%s is in use by writer pid %u", b->path,
                             h.writer_pid);
            goto out;
        }
    } else if (got != (ssize_t)sizeof h && time(NULL) - st.st_mtime < 2) {
        rc = conrt__fail(b->error, sizeof b->error, CONRT_E_IN_USE, "%s is being created", b->path);
        goto out;
    }
    rc = shm_unlink(b->path) != 0 && errno != ENOENT ? conrt__sys(b, "cannot remove stale") : CONRT_OK;
out:
    if (b->fd >= 0) close(b->fd);
    b->fd = -1;
    return rc;
}

static uint64_t conrt__self_start_ticks(void) {
    char state;
    uint64_t start = 0;
    return conrt__proc_stat((uint32_t)getpid(), &state, &start) ? start : 0;
}

CONRT_DEF int conrt_bridge_create(conrt_bridge *b, const char *name, uint32_t width, uint32_t height,
                                  uint32_t fmt, uint32_t slot_count, uint32_t max_joints, uint32_t skeleton_joints) {
    conrt_bridge_header *h;
    uint64_t stride, pose_size, frames_offset, slot_size, size;
    void *mem;
    int rc, attempt;
    if (!b) return CONRT_E_ARG;
    conrt__init(b);
    b->is_writer = 1;
    if ((rc = conrt__path(b, name)) != CONRT_OK) return rc;
    if (width < 1 || width > CONRT_MAX_DIM || height < 1 || height > CONRT_MAX_DIM || slot_count < 1
        || slot_count > CONRT_MAX_SLOTS || max_joints > CONRT_MAX_JOINTS || skeleton_joints > max_joints
        || (fmt != CONRT_FORMAT_RGBA8 && fmt != CONRT_FORMAT_RGBA16F))
        return conrt__fail(b->error, sizeof b->error, CONRT_E_ARG, "bad size/format/slots/joints");
    /* the same layout as Geometry.build() in protocol.py */
    stride = conrt__align((uint64_t)width * conrt__bpp(fmt), 64);
    pose_size = CONRT_POSE_FIXED_SIZE + (uint64_t)CONRT_JOINT_SIZE * max_joints;
    frames_offset = conrt__align(CONRT_HEADER_SIZE + pose_size, 4096);
    slot_size = conrt__align(CONRT_SLOT_HEADER_SIZE + stride * height, 64);
    size = frames_offset + slot_count * slot_size;
    for (attempt = 0; attempt < 2; attempt++) {
        b->fd = shm_open(b->path, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (b->fd >= 0 || errno != EEXIST || attempt) break;
        if ((rc = conrt__remove_stale(b)) != CONRT_OK) return rc;
    }
    if (b->fd < 0) return conrt__sys(b, "cannot create");
    if (fchmod(b->fd, 0600) != 0 || ftruncate(b->fd, (off_t)size) != 0) { rc = conrt__sys(b, "cannot size"); goto fail; }
    mem = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
    if (mem == MAP_FAILED) { rc = conrt__sys(b, "cannot map"); goto fail; }
    b->base = (unsigned char *)mem;
    b->size = size;
    h = conrt__hdr(b);
    h->writer_pid = (uint32_t)getpid(); /* first: a crash mid-init is recognisable as stale */
    h->writer_start_ticks = conrt__self_start_ticks();
    h->pid_ns_inode = conrt__pid_ns();
    h->version = CONRT_BRIDGE_VERSION;
    h->header_size = CONRT_HEADER_SIZE;
    h->segment_size = size;
    h->width = width; h->height = height; h->stride = (uint32_t)stride;
    h->pixel_format = fmt;
    h->flags = CONRT_FLAG_PREMULTIPLIED | CONRT_FLAG_ROW0_TOP;
    h->slot_count = slot_count; h->slot_size = slot_size; h->frames_offset = frames_offset;
    h->pose_offset = CONRT_HEADER_SIZE; h->pose_size = (uint32_t)pose_size; h->max_joints = max_joints;
    h->skeleton_joints = skeleton_joints;
    h->heartbeat_period_ms = 100;
    h->heartbeat_ns = conrt_bridge_now_ns();
    CONRT__ST_REL(&h->magic, CONRT_BRIDGE_MAGIC); /* last: readers treat no magic as "not ready" */
    rc = conrt_bridge_parse_header(b->base, size, &b->geo, b->error, sizeof b->error);
    if (rc != CONRT_OK) goto fail;
    b->writer_pid = h->writer_pid;
    return CONRT_OK;
fail:
    conrt_bridge_close(b);
    shm_unlink(b->path);
    return rc;
}

CONRT_DEF unsigned char *conrt_bridge_begin_frame(conrt_bridge *b) {
    conrt_slot_header *slot;
    uint64_t s;
    if (!b || !b->base || !b->is_writer || conrt__check_size(b) != CONRT_OK) return NULL;
    slot = conrt__slot(b, b->next_frame);
    s = CONRT__LD(&slot->seq);
    CONRT__ST(&slot->seq, (s | 1) == s ? s : s + 1); /* odd */
    __atomic_thread_fence(__ATOMIC_RELEASE);        /* the odd seq is visible before any pixel */
    return (unsigned char *)slot + CONRT_SLOT_HEADER_SIZE;
}

CONRT_DEF int conrt_bridge_end_frame(conrt_bridge *b, uint64_t request_id, uint64_t request_time_ns,
                                     uint64_t render_start_ns) {
    conrt_slot_header *slot;
    conrt_bridge_header *h;
    uint64_t s, now = conrt_bridge_now_ns();
    int rc;
    if (!b || !b->base || !b->is_writer) return CONRT_E_ARG;
    if ((rc = conrt__check_size(b)) != CONRT_OK) return rc;
    h = conrt__hdr(b);
    slot = conrt__slot(b, b->next_frame);
    s = CONRT__LD(&slot->seq);
    if (!(s & 1)) return conrt__fail(b->error, sizeof b->error, CONRT_E_ARG, "end_frame without begin_frame");
    slot->frame_index = b->next_frame;
    slot->request_id = request_id;
    slot->request_time_ns = request_time_ns;
    slot->render_start_ns = render_start_ns;
    slot->publish_ns = now;
    CONRT__ST_REL(&slot->seq, s + 1); /* even: consistent */
    CONRT__ST_REL(&h->frames_published, b->next_frame + 1);
    CONRT__ST(&h->heartbeat_ns, now);
    b->next_frame++;
    return CONRT_OK;
}

CONRT_DEF int conrt_bridge_heartbeat(conrt_bridge *b) {
    int rc;
    if (!b || !b->base || !b->is_writer) return CONRT_E_ARG;
    if ((rc = conrt__check_size(b)) != CONRT_OK) return rc;
    CONRT__ST(&conrt__hdr(b)->heartbeat_ns, conrt_bridge_now_ns());
    return CONRT_OK;
}

CONRT_DEF int conrt_bridge_read_pose(conrt_bridge *b, conrt_pose *out, float *joints, uint32_t cap) {
    conrt_pose_header *p, head;
    uint64_t s1;
    uint32_t count, retry;
    int rc;
    if (!b || !b->base || !out) return CONRT_E_ARG;
    if ((rc = conrt__check_size(b)) != CONRT_OK) return rc;
    p = conrt__pose(b);
    for (retry = 0; retry < 1000; retry++) {
        s1 = CONRT__LD_ACQ(&p->seq);
        if (s1 == b->pose_seq_seen) return CONRT_NO_FRAME;
        if (s1 & 1) continue;
        memcpy(&head, p, sizeof head);
        count = head.joint_count;
        if (head.kind == CONRT_POSE_JOINTS && count <= b->geo.max_joints && count <= cap && joints)
            memcpy(joints, (unsigned char *)p + CONRT_POSE_FIXED_SIZE, (size_t)count * CONRT_JOINT_SIZE);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (CONRT__LD(&p->seq) != s1) continue;
        b->pose_seq_seen = s1;
        if (head.kind > CONRT_POSE_CLIP || count > b->geo.max_joints)
            return conrt__fail(b->error, sizeof b->error, CONRT_E_POSE, "pose request %llu: kind %u, %u joints",
                               (unsigned long long)head.request_id, head.kind, count);
        if (head.kind == CONRT_POSE_JOINTS && count > cap)
            return conrt__fail(b->error, sizeof b->error, CONRT_E_BUFFER, "%u joints do not fit %u", count, cap);
        if ((rc = conrt__pose_problem(b, head.request_id, head.kind, count,
                                      head.kind == CONRT_POSE_JOINTS ? joints : NULL, head.clip_time,
                                      head.camera_view, head.camera_proj)) != CONRT_OK)
            return rc;
        out->request_id = head.request_id;
        out->time_ns = head.request_time_ns;
        out->kind = head.kind;
        out->joint_count = head.kind == CONRT_POSE_JOINTS ? count : 0;
        out->joints = joints;
        memcpy(out->clip_name, head.clip_name, sizeof out->clip_name);
        out->clip_name[sizeof out->clip_name - 1] = 0;
        out->clip_time = head.clip_time;
        memcpy(out->camera_view, head.camera_view, sizeof out->camera_view);
        memcpy(out->camera_proj, head.camera_proj, sizeof out->camera_proj);
        return CONRT_OK;
    }
    return conrt__fail(b->error, sizeof b->error, CONRT_E_BUSY, "pose region busy");
}

CONRT_DEF void conrt_bridge_destroy(conrt_bridge *b) {
    if (!b) return;
    if (b->base && b->is_writer) {
        CONRT__ST_REL(&conrt__hdr(b)->writer_pid, 0u); /* readers see "closed" at once */
        shm_unlink(b->path);
    }
    conrt_bridge_close(b);
}

#endif /* CONRT_BRIDGE_IMPLEMENTED */
#endif /* CONRT_BRIDGE_IMPLEMENTATION */
