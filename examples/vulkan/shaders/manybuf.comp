// vk_manybuf: update of one buffer, out[i] = rotl(out[i], 7) ^ (other[(5i + step) % n] + salt).
// Must match ManybufStep() in examples/reference.cpp.
#version 450
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) buffer Out { uint out_words[]; };
layout(std430, set = 0, binding = 1) readonly buffer Other { uint other[]; };

layout(push_constant) uniform Params {
    uint n;
    uint step;
};

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint salt = step * 0x85EBCA6Bu;
    for (uint i = gl_GlobalInvocationID.x; i < n; i += stride) {
        uint x = out_words[i];
        out_words[i] = ((x << 7) | (x >> 25)) ^ (other[(i * 5u + step) % n] + salt);
    }
}
