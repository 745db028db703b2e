// Buffer access: qualifiers, use-based refinement, a helper function, unused bindings, UBO.
#version 450
#extension GL_EXT_nonuniform_qualifier : require
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer In { float data[]; } in_buf;
layout(set = 0, binding = 1) writeonly buffer Out { float data[]; } out_buf;
layout(set = 0, binding = 2) buffer ReadByUse { float data[]; } read_by_use;
layout(set = 0, binding = 3) buffer Both { float data[]; } both;
layout(set = 0, binding = 4) buffer Unused { float data[]; } unused;
layout(set = 0, binding = 5) buffer Fixed { vec4 v[16]; } fixed_buf;
layout(set = 0, binding = 6) buffer Arr { float x[]; } arr_bufs[4];
layout(set = 0, binding = 7) buffer Rt { float x[]; } rt_bufs[];
layout(set = 1, binding = 0) uniform Params { uint count; float scale; } params;
layout(set = 1, binding = 1) buffer WriteByUse { float data[]; } write_by_use;

void StoreResult(uint i, float v) { write_by_use.data[i] = v; }

void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i >= params.count) return;
    float v = in_buf.data[i] + read_by_use.data[i] + rt_bufs[nonuniformEXT(i % 3)].x[0];
    out_buf.data[i] = v * params.scale;
    both.data[i] = both.data[i] + v;
    arr_bufs[1].x[i] = fixed_buf.v[i % 16].x;
    StoreResult(i, v);
}
