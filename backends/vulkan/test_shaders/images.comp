// Images: qualifiers, use-based refinement, helper functions taking images, texel buffers, samplers.
#version 450
layout(local_size_x = 8, local_size_y = 8) in;

layout(set = 0, binding = 0, rgba8) uniform readonly image2D src;
layout(set = 0, binding = 1, rgba8) uniform writeonly image2D dst;
layout(set = 0, binding = 2, rgba8) uniform image2D rw_img;
layout(set = 0, binding = 3, rgba8) uniform image2D read_by_use;
layout(set = 0, binding = 4, rgba8) uniform image2D write_via_helper;
layout(set = 0, binding = 5) uniform sampler2D tex;
layout(set = 0, binding = 6) uniform samplerBuffer uniform_texels;
layout(set = 0, binding = 7, r32f) uniform imageBuffer storage_texels;
layout(set = 0, binding = 8) uniform texture2D separate_tex;
layout(set = 0, binding = 9) uniform sampler separate_sampler;
layout(set = 0, binding = 10, rgba8) uniform image2D unused_img;

void Put(writeonly image2D img, ivec2 p, vec4 v) { imageStore(img, p, v); }

void main() {
    ivec2 p = ivec2(gl_GlobalInvocationID.xy);
    vec4 v = imageLoad(src, p) + imageLoad(read_by_use, p) + texture(tex, vec2(0.5));
    v += texelFetch(uniform_texels, p.x) + imageLoad(storage_texels, p.x);
    v += texture(sampler2D(separate_tex, separate_sampler), vec2(0.25));
    imageStore(dst, p, v);
    imageStore(rw_img, p, imageLoad(rw_img, p) + v);
    Put(write_via_helper, p, v);
}
