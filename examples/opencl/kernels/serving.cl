// cl_serving: one request, act[j] = f(act[j], input[1 + j % n_input], a few reads of W).
// Same computation as vulkan/shaders/serving.comp; must match ServingStep() in examples/reference.cpp.
#define READS 4u
#define INDEX_STRIDE 2654435761u
#define REQUEST_STRIDE 40503u
#define READ_STRIDE 0x9E3779B1u

__kernel void serving(__global const uint* weights, __global uint* act, __global const uint* input_words,
                      __global uint* meta,
                      uint n_weights, uint n_act,
                      uint n_input,  // data words after the header
                      uint step)
{
    const uint stride = (uint)get_global_size(0);
    for (uint j = (uint)get_global_id(0); j < n_act; j += stride) {
        uint a = act[j];
        const uint x = input_words[1u + j % n_input];
        for (uint r = 0u; r < READS; ++r) {
            const uint idx = j * INDEX_STRIDE + step * REQUEST_STRIDE + r * READ_STRIDE;
            a = ((a ^ weights[idx % n_weights]) * 0x01000193u) + (x >> r) + step;
        }
        act[j] = a;
    }
    if (get_global_id(0) == 0) meta[0] = step + 1u;
}
