// cl_stencil: one pass of the integer 1-D stencil, dst <- f(src), wrap-around neighbours.
// Same computation as vulkan/shaders/stencil.comp; must match StencilPass() in examples/reference.cpp.
__kernel void stencil(__global const uint* src, __global uint* dst, __global uint* meta,
                      uint n,           // words per buffer
                      uint pass_index,  // t = 2 * step (+1 for the second pass)
                      uint write_meta,  // last pass of the step writes meta[0]
                      uint meta_value)  // step + 1
{
    const uint stride = (uint)get_global_size(0);
    for (uint i = (uint)get_global_id(0); i < n; i += stride) {
        const uint left = src[i == 0u ? n - 1u : i - 1u];
        const uint mid = src[i];
        const uint right = src[i + 1u == n ? 0u : i + 1u];
        dst[i] = left * 3u + mid * 5u + (right ^ (mid >> 3)) + pass_index * 0x9E3779B9u;
    }
    if (write_meta != 0u && get_global_id(0) == 0) meta[0] = meta_value;
}
