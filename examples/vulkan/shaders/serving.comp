// vk_serving: one request, act[j] = f(act[j], input[1 + j % n_input], a few reads of W).
// Must match ServingStep() in examples/reference.cpp.
#version 450
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer Weights { uint weights[]; };
layout(std430, set = 0, binding = 1) buffer Activations { uint act[]; };
layout(std430, set = 0, binding = 2) readonly buffer Input { uint input_words[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Meta { uint meta[]; };

layout(push_constant) uniform Params {
    uint n_weights;
    uint n_act;
    uint n_input;  // data words after the header
    uint step;
};

const uint kReads = 4u;
const uint kIndexStride = 2654435761u;
const uint kRequestStride = 40503u;
const uint kReadStride = 0x9E3779B1u;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint j = gl_GlobalInvocationID.x; j < n_act; j += stride) {
        uint a = act[j];
        uint x = input_words[1u + j % n_input];
        for (uint r = 0u; r < kReads; ++r) {
            uint idx = j * kIndexStride + step * kRequestStride + r * kReadStride;
            a = ((a ^ weights[idx % n_weights]) * 0x01000193u) + (x >> r) + step;
        }
        act[j] = a;
    }
    if (gl_GlobalInvocationID.x == 0u) meta[0] = step + 1u;
}
