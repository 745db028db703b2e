// cl_manybuf: update of one buffer, out[i] = rotl(out[i], 7) ^ (other[(5i + step) % n] + salt), and the
// last command of a submission, which records the completed step count.
// Same computations as vulkan/shaders/{manybuf,meta}.comp; must match ManybufStep() in examples/reference.cpp.
__kernel void manybuf(__global uint* out_words, __global const uint* other, uint n, uint step) {
    const uint stride = (uint)get_global_size(0);
    const uint salt = step * 0x85EBCA6Bu;
    for (uint i = (uint)get_global_id(0); i < n; i += stride) {
        const uint x = out_words[i];
        out_words[i] = ((x << 7) | (x >> 25)) ^ (other[(i * 5u + step) % n] + salt);
    }
}

__kernel void meta(__global uint* meta_words, uint value) {  // value = step + 1
    if (get_global_id(0) == 0) meta_words[0] = value;
}
