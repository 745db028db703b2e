// Buffer device addresses (GL_EXT_buffer_reference): access through pointers is unknown.
#version 450
#extension GL_EXT_buffer_reference : require
layout(local_size_x = 64) in;

layout(buffer_reference, std430) buffer Data { float v[]; };
layout(push_constant) uniform Push { Data data; uint n; } pc;  // 8-byte pointer + uint: 12 bytes

void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < pc.n) pc.data.v[i] *= 2.0;
}
