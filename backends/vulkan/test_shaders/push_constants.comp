// Push constants: a std430 struct with vectors, arrays and a matrix (104 bytes).
#version 450
layout(local_size_x = 1) in;

layout(push_constant) uniform Push {
    vec4 a;      // offset 0, 16 bytes
    float b[3];  // offset 16, stride 4: ends at 28
    mat4 m;      // offset 32, 64 bytes: ends at 96
    uvec2 c;     // offset 96: ends at 104
} pc;
layout(set = 0, binding = 0) buffer Out { vec4 v; } out_buf;

void main() { out_buf.v = pc.a + pc.m[1] * pc.b[2] + vec4(pc.c, 0, 0); }
