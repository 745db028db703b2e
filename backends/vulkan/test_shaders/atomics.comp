// Atomics on a buffer and on a storage image.
#version 450
layout(local_size_x = 64) in;

layout(set = 0, binding = 0) buffer Counter { uint count; } counter;
layout(set = 0, binding = 1, r32ui) uniform uimage2D histogram;

void main() {
    atomicAdd(counter.count, 1u);
    imageAtomicAdd(histogram, ivec2(gl_GlobalInvocationID.xy), 1u);
}
