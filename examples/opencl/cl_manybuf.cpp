// cl_manybuf — many small buffers, several submissions in flight (DESIGN.md §7, examples/README.md);
// the OpenCL counterpart of vk_manybuf, with the same memory objects, steps and checksum.
//
// Memory objects (creation order): buf0 .. buf<N-1> (N = --buffers, each floor(mib MiB / N)
// rounded down to 4 KiB), meta (4 KiB), and with --idle-mib M an "idle" object of M MiB that no
// step touches (pseudo-random contents, checked unchanged at the end: "idle: ok").
// Submission s enqueues, in ascending b, an update of every buffer b with (b + s) % 4 == 0 from
// itself and buffer (b + 1) % N (the in-order queue orders each after the previous commands, as
// vk_manybuf's barriers do), then a one-item kernel writing meta[0] = s + 1, whose event marks the
// submission's completion. The queue is flushed and up to 3 submissions are in flight (a ring of
// events). The CPU reference is ManybufStep() in examples/reference.cpp.
//
//   cl_manybuf --mib 16 --buffers 128 --steps 300
#include <array>
#include <cstdint>
#include <cstdio>

#include "examples/opencl/common.h"
#include "examples/opencl/manybuf_cl.h"

namespace gpucr::examples::opencl {
namespace {

constexpr uint32_t kDefaultMib = 32;
constexpr size_t kRing = 3;

struct Kernels {
    std::unique_ptr<Program> program;
    std::unique_ptr<Kernel> update;  // arguments set per dispatch: out, other, n, step
    std::unique_ptr<Kernel> meta;    // meta bound once; value set per submission
};

Result<Kernels> CreateKernels(Context& ctx, const BufferSet& buffers, uint32_t count) {
    Kernels k;
    GPUCR_ASSIGN_OR_RETURN(k.program, Program::Create(ctx, kManybufCl));
    GPUCR_ASSIGN_OR_RETURN(k.update, Kernel::Create(ctx, *k.program, "manybuf"));
    GPUCR_ASSIGN_OR_RETURN(k.meta, Kernel::Create(ctx, *k.program, "meta"));
    GPUCR_RETURN_IF_ERROR(k.meta->SetArgs(0, buffers[count].mem));
    return k;
}

Status EnqueueSubmission(cl_command_queue queue, const Kernels& k, const BufferSet& buffers, uint32_t count,
                         uint32_t words, uint32_t s, cl_event* done) {
    for (uint32_t b = 0; b < count; ++b) {
        if ((b + s) % 4 != 0) continue;
        GPUCR_RETURN_IF_ERROR(k.update->SetArgs(0, buffers[b].mem, buffers[(b + 1) % count].mem, words, s));
        GPUCR_RETURN_IF_ERROR(k.update->Enqueue(queue, words));
    }
    GPUCR_RETURN_IF_ERROR(k.meta->SetArgs(1, s + 1));
    return k.meta->Enqueue(queue, 1, done);
}

Status RunManybuf(const Options& options) {
    const WorkloadParams params{.kind = ExampleKind::kManybuf, .mib = options.mib, .buffers = options.buffers};
    GPUCR_ASSIGN_OR_RETURN(std::vector<BufferSpec> specs, Layout(params));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(options));
    BufferSet buffers(*ctx);
    GPUCR_RETURN_IF_ERROR(buffers.Create(specs));
    GPUCR_RETURN_IF_ERROR(ctx->Initialize(buffers.buffers(), specs));
    ReportSetup("cl_manybuf", options, *ctx, buffers.buffers());
    const uint32_t count = options.buffers;
    const uint32_t words = static_cast<uint32_t>(specs[0].size / 4);
    GPUCR_ASSIGN_OR_RETURN(Kernels kernels, CreateKernels(*ctx, buffers, count));
    // The idle object: created after all others, so it does not change their order.
    BufferSet idle(*ctx);
    std::vector<BufferSpec> idle_spec;
    uint64_t idle_checksum = 0;
    if (options.idle_mib > 0) {
        idle_spec.push_back({"idle", uint64_t{options.idle_mib} << 20, InitKind::kPrng, 0x1d1e, false});
        GPUCR_RETURN_IF_ERROR(idle.Create(idle_spec));
        GPUCR_RETURN_IF_ERROR(ctx->Initialize(idle.buffers(), idle_spec));
        GPUCR_ASSIGN_OR_RETURN(idle_checksum, ctx->Checksum(idle.buffers()));
    }
    std::array<std::unique_ptr<Submission>, kRing> ring;
    for (auto& submission : ring) submission = std::make_unique<Submission>(ctx->queue());

    StepRecorder recorder("cl_manybuf", options);
    GPUCR_RETURN_IF_ERROR(recorder.Start());
    uint32_t completed = 0;  // submissions complete in order on the in-order queue
    for (uint32_t s = 0; s < options.steps; ++s) {
        Submission& submission = *ring[s % kRing];
        if (submission.in_flight()) {
            GPUCR_ASSIGN_OR_RETURN(double ms, submission.Wait());
            recorder.Record(completed++, ms);
        }
        GPUCR_RETURN_IF_ERROR(submission.Begin());
        cl_event done = nullptr;
        GPUCR_RETURN_IF_ERROR(EnqueueSubmission(ctx->queue(), kernels, buffers, count, words, s, &done));
        GPUCR_RETURN_IF_ERROR(submission.Submit(done));
        if (s + 1 < options.steps) PauseBetweenSteps(options);
    }
    while (completed < options.steps) {
        GPUCR_ASSIGN_OR_RETURN(double ms, ring[completed % kRing]->Wait());
        recorder.Record(completed++, ms);
    }
    GPUCR_RETURN_IF_ERROR(recorder.Finish());
    GPUCR_ASSIGN_OR_RETURN(uint64_t checksum, ctx->Checksum(buffers.buffers()));
    std::printf("%s\n", ChecksumLine(checksum).c_str());
    if (options.idle_mib > 0) {
        GPUCR_ASSIGN_OR_RETURN(uint64_t now, ctx->Checksum(idle.buffers()));
        if (now != idle_checksum) return Internal("the idle memory object changed");
        std::printf("idle: ok\n");
    }
    return Status::Ok();
}

}  // namespace
}  // namespace gpucr::examples::opencl

int main(int argc, char** argv) {
    using namespace gpucr::examples;
    return RunExample({"cl_manybuf", ExampleApi::kOpenCL, opencl::kDefaultMib, /*has_buffers=*/true}, argc, argv,
                      opencl::RunManybuf);
}
