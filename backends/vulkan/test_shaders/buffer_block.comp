// SPIR-V 1.0 (Vulkan 1.0): storage buffers are Uniform + BufferBlock.
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) readonly buffer In { uint data[]; } in_buf;
layout(set = 0, binding = 1) writeonly buffer Out { uint data[]; } out_buf;
layout(set = 0, binding = 2) buffer ReadByUse { uint data[]; } read_by_use;
layout(set = 0, binding = 3) buffer Both { uint data[]; } both;
layout(set = 0, binding = 4) uniform Params { uint n; } params;

void main() {
    uint i = gl_GlobalInvocationID.x;
    out_buf.data[i] = in_buf.data[i] + read_by_use.data[i] + params.n;
    both.data[i] += 1u;
}
