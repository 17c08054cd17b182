"""PyTorch reference timings on the GPU machine (not part of the build).

Dense causal flash SDPA, B=1, H=8, K=64, bf16, forward and forward+backward,
median of CUDA-event timings after warm-up: the peer that attention_bench's
dense and sparse rows are compared against. Run: python3 torch_sdpa_baseline.py
"""
import sys

import torch
import torch.nn.functional as F


def median_ms(fn, reps=30, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def main():
    ns = [int(x) for x in (sys.argv[1].split(",") if len(sys.argv) > 1 else ["3072", "12288"])]
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    print("| torch SDPA dense causal | n | fwd ms | fwd+bwd ms |")
    for n in ns:
        q, k, v = (torch.randn(1, 8, n, 64, device="cuda", dtype=torch.bfloat16,
                               requires_grad=True) for _ in range(3))
        do = torch.randn(1, 8, n, 64, device="cuda", dtype=torch.bfloat16)

        def fwd():
            with torch.no_grad():
                F.scaled_dot_product_attention(q, k, v, is_causal=True)

        def fwd_bwd():
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            o.backward(do)

        print(f"| sdpa | {n} | {median_ms(fwd):.3f} | {median_ms(fwd_bwd):.3f} |")


if __name__ == "__main__":
    main()
