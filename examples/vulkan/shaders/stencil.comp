// vk_stencil: one pass of the integer 1-D stencil, dst <- f(src), wrap-around neighbours.
// Must match StencilPass() in examples/reference.cpp.
#version 450
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { uint dst[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Meta { uint meta[]; };

layout(push_constant) uniform Params {
    uint n;           // words per buffer
    uint pass_index;  // t = 2 * step (+1 for the second pass)
    uint write_meta;  // last dispatch of the step writes meta[0]
    uint meta_value;  // step + 1
};

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < n; i += stride) {
        uint left = src[i == 0u ? n - 1u : i - 1u];
        uint mid = src[i];
        uint right = src[i + 1u == n ? 0u : i + 1u];
        dst[i] = left * 3u + mid * 5u + (right ^ (mid >> 3)) + pass_index * 0x9E3779B9u;
    }
    if (write_meta != 0u && gl_GlobalInvocationID.x == 0u) meta[0] = meta_value;
}
