/* Prints sizeof/offsetof of the shared structs: the Python mirror must agree. */
#define CONRT_BRIDGE_IMPLEMENTATION
#include "conrt_bridge.h"
#include <stdio.h>

#define F(type, field) printf(#type " " #field " %zu %zu\n", offsetof(type, field), sizeof(((type *)0)->field))

int main(void) {
    printf("conrt_bridge_header SIZE %zu 0\n", sizeof(conrt_bridge_header));
    F(conrt_bridge_header, magic); F(conrt_bridge_header, version); F(conrt_bridge_header, header_size);
    F(conrt_bridge_header, segment_size); F(conrt_bridge_header, width); F(conrt_bridge_header, height);
    F(conrt_bridge_header, stride); F(conrt_bridge_header, pixel_format); F(conrt_bridge_header, flags);
    F(conrt_bridge_header, slot_count); F(conrt_bridge_header, slot_size); F(conrt_bridge_header, frames_offset);
    F(conrt_bridge_header, pose_offset); F(conrt_bridge_header, pose_size); F(conrt_bridge_header, max_joints);
    F(conrt_bridge_header, writer_pid); F(conrt_bridge_header, heartbeat_period_ms);
    F(conrt_bridge_header, heartbeat_ns); F(conrt_bridge_header, frames_published);
    F(conrt_bridge_header, writer_start_ticks); F(conrt_bridge_header, pid_ns_inode); F(conrt_bridge_header, skeleton_joints);
    F(conrt_bridge_header, reserved);
    printf("conrt_slot_header SIZE %zu 0\n", sizeof(conrt_slot_header));
    F(conrt_slot_header, seq); F(conrt_slot_header, frame_index); F(conrt_slot_header, request_id);
    F(conrt_slot_header, request_time_ns); F(conrt_slot_header, render_start_ns); F(conrt_slot_header, publish_ns);
    printf("conrt_pose_header SIZE %zu 0\n", sizeof(conrt_pose_header));
    F(conrt_pose_header, seq); F(conrt_pose_header, request_id); F(conrt_pose_header, request_time_ns);
    F(conrt_pose_header, kind); F(conrt_pose_header, joint_count); F(conrt_pose_header, engine_pid);
    F(conrt_pose_header, clip_time); F(conrt_pose_header, clip_name); F(conrt_pose_header, camera_view);
    F(conrt_pose_header, camera_proj);
    printf("const VERSION %d 0\nconst MAGIC %llu 0\n", CONRT_BRIDGE_VERSION, (unsigned long long)CONRT_BRIDGE_MAGIC);
    return 0;
}
