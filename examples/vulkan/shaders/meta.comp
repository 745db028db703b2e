// Last dispatch of a vk_manybuf submission: one invocation records the completed step count.
#version 450
layout(local_size_x = 1) in;

layout(std430, set = 0, binding = 0) writeonly buffer Meta { uint meta[]; };

layout(push_constant) uniform Params {
    uint value;  // step + 1
};

void main() { meta[0] = value; }
