"""A small deterministic PyTorch workload (knows nothing of gpucr), for gpucr's CUDA tests.

  train  an MLP with a 1-D convolution (cuBLAS and cuDNN), SGD with momentum, fixed synthetic data
  infer  a fixed-weight model applied over and over to a state tensor, updated in place:
         state = tanh(model(state) + 0.1 * input_step)

Every step's data comes from a CUDA generator seeded with the step number, so two runs on the same
kind of GPU follow the same trajectory bit for bit. After each step (torch.cuda.synchronize()) a
JSON line goes to --log: {"step": s (1..N, steps completed), "checksum": sha256 hex of the bytes of
all parameters (train) or of the state (infer), "end_unix_ns", "ms": the step's latency, checksum
time excluded}. The last stdout line is `checksum: <16 hex digits>` of the final state.

  torch_loop.py --mode train --steps 40 --step-ms 100 --width 2048 --log l.jsonl --layout layout.json
"""
import os

# Before torch is imported: cuBLAS's deterministic workspace.
os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"

import argparse  # noqa: E402
import ctypes  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CHANNELS = 16
BATCH = 64


class Net(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.width = width
        self.conv = nn.Conv1d(CHANNELS, CHANNELS, 3, padding=1)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x):
        b = x.shape[0]
        h = self.conv(x.view(b, CHANNELS, self.width // CHANNELS)).reshape(b, self.width) + x
        return self.fc2(F.relu(self.fc1(h)))


def tensor_bytes(t):
    """The raw bytes of a tensor (copied to the host), without numpy."""
    c = t.detach().contiguous().cpu()
    return ctypes.string_at(c.data_ptr(), c.numel() * c.element_size())


def digest(tensors):
    h = hashlib.sha256()
    for t in tensors:
        h.update(tensor_bytes(t))
    return h.hexdigest()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["train", "infer"], default="train")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--step-ms", type=float, default=0)
    p.add_argument("--device", type=int, default=0)
    p.add_argument("--width", type=int, default=2048, help="hidden width (train: ~8*width^2 bytes of parameters)")
    p.add_argument("--ready-file", default="")
    p.add_argument("--log", default="")
    p.add_argument("--layout", default="")
    args = p.parse_args()
    if args.width % CHANNELS:
        p.error(f"--width must be a multiple of {CHANNELS}")

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.cuda.set_device(args.device)
    dev = torch.device("cuda", args.device)

    net = Net(args.width).to(dev)  # weights initialised on the CPU from seed 0
    if args.mode == "train":
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=0.005, momentum=0.9, foreach=False)
        named = list(net.named_parameters())
    else:
        net.eval()
        for q in net.parameters():
            q.requires_grad_(False)
        g0 = torch.Generator(device=dev)
        g0.manual_seed(123456789)
        state = torch.randn(BATCH, args.width, device=dev, generator=g0)
        named = [("state", state)]
    tensors = [t for _, t in named]

    def step(s):
        g = torch.Generator(device=dev)
        g.manual_seed(s)
        x = torch.randn(BATCH, args.width, device=dev, generator=g)
        if args.mode == "train":
            y = torch.randn(BATCH, args.width, device=dev, generator=g)
            opt.zero_grad(set_to_none=False)
            loss = F.mse_loss(net(x), y)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                state.copy_(torch.tanh(net(state) + 0.1 * x))

    log = open(args.log, "a") if args.log else None
    ptrs = None
    final = digest(tensors)
    for s in range(1, args.steps + 1):
        t0 = time.perf_counter()
        step(s)
        torch.cuda.synchronize()
        end_ns = time.time_ns()
        ms = (time.perf_counter() - t0) * 1e3
        now = [t.data_ptr() for t in tensors]
        if ptrs is None:
            ptrs = now
            if args.layout:
                layout = [{"name": n, "data_ptr": t.data_ptr(), "nbytes": t.numel() * t.element_size()}
                          for n, t in named]
                tmp = args.layout + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(layout, f)
                os.replace(tmp, args.layout)
        elif now != ptrs:
            moved = [n for (n, _), a, b in zip(named, ptrs, now) if a != b]
            print(f"torch_loop: tensors moved at step {s}: {moved}", file=sys.stderr)
            sys.exit(3)
        final = digest(tensors)
        if log:
            log.write(json.dumps({"step": s, "checksum": final, "end_unix_ns": end_ns, "ms": ms}) + "\n")
            log.flush()
        if s == 1 and args.ready_file:
            open(args.ready_file, "w").close()
        if args.step_ms > 0 and s < args.steps:
            time.sleep(args.step_ms / 1e3)
    if log:
        log.close()
    print(f"checksum: {final[:16]}", flush=True)


if __name__ == "__main__":
    main()
