// params.cu — kernels with known signatures for cubin_info_test.cpp (parameter offsets and sizes).
//
// Built by meson with `nvcc -cubin -arch=sm_90` and `nvcc -fatbin`; the test asserts the C++ ABI
// layout of each kernel's parameters as the cubin's .nv.info attributes describe them.
#include <cstdint>

struct TwoPointers {
    float* a;  // offset 0
    float* b;  // offset 8
    int n;     // offset 16; struct size 24 (alignment 8)
};

struct Forty {
    uint64_t words[5];  // 40 bytes
};

// Pointers and ints: params at 0 (8), 8 (8), 16 (4).
extern "C" __global__ void k_pointers(const float* in, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = in[i];
}

// A struct holding two device pointers and an int: 0 (24), 24 (4).
extern "C" __global__ void k_struct(TwoPointers p, int scale) {
    int i = threadIdx.x;
    if (i < p.n) p.b[i] = p.a[i] * scale;
}

// A 40-byte struct between ints: 0 (4), 8 (40), 48 (4).
extern "C" __global__ void k_forty(int a, Forty f, int b) {
    if (threadIdx.x == 0 && f.words[0] == 0) reinterpret_cast<int*>(f.words[1])[0] = a + b;
}

// A char followed by a double (alignment padding): 0 (1), 8 (8), 16 (8).
extern "C" __global__ void k_char_double(char c, double d, double* out) { out[0] = c + d; }

// An empty parameter list.
extern "C" __global__ void k_empty() {}

// A template instance (mangled name): 0 (8), 8 (2), 12 (4).
template <typename T>
__global__ void k_template(T* out, short s, T v) {
    out[threadIdx.x] = v + s;
}
template __global__ void k_template<float>(float*, short, float);

// Many params: 20 pointers (0..152) then an int at 160.
extern "C" __global__ void k_many(float* p0, float* p1, float* p2, float* p3, float* p4, float* p5, float* p6,
                                  float* p7, float* p8, float* p9, float* p10, float* p11, float* p12, float* p13,
                                  float* p14, float* p15, float* p16, float* p17, float* p18, float* p19, int n) {
    if (threadIdx.x < n) p19[threadIdx.x] = p0[threadIdx.x] + p10[threadIdx.x];
}
