"""cuda_library: compiles .cu files with nvcc into a cc_library.

With --config=cuda the .cu sources are compiled by nvcc for the architecture
in --define=cuda_arch (default 90, set in .bazelrc), or for the chip named in a
library's `gencode` (the wgmma kernels: sm_90a), and the library defines ST_WITH_CUDA=1.
Without it the library holds only `srcs` (the host C++ code), so every target
still builds on machines without the CUDA toolkit.
"""

_NVCC = "/usr/local/cuda/bin/nvcc"

def cuda_library(name, cu_srcs = [], srcs = [], hdrs = [], deps = [], copts = [], nvcc_hdrs = [], nvcc_flags = [], gencode = None, visibility = None, **kwargs):
    """A C++ library whose `cu_srcs` are compiled by nvcc under --config=cuda.

    Args:
      name: the cc_library's name.
      cu_srcs: .cu files of this package.
      srcs: plain C++ sources (always compiled).
      hdrs: headers, visible to both compilers.
      deps: cc_library deps (their headers must be listed in hdrs to reach nvcc).
      copts: C++ compiler options.
      nvcc_hdrs: headers from other packages that the .cu files include.
      nvcc_flags: extra nvcc options.
      gencode: replaces the default "arch=compute_$(cuda_arch),code=sm_$(cuda_arch)"
        for code written for one chip (e.g. "arch=compute_90a,code=sm_90a").
      visibility: passed on.
      **kwargs: passed to cc_library.
    """
    # nvcc sees every header of this package plus `nvcc_hdrs`.
    local_hdrs = native.glob(["**/*.h", "**/*.cuh"], allow_empty = True)
    cu_inputs = local_hdrs + [h for h in hdrs + nvcc_hdrs if h not in local_hdrs]
    objs = []
    for cu in cu_srcs:
        obj = name + "_" + cu.replace("/", "_").replace(".cu", ".o")
        native.genrule(
            name = name + "_" + cu.replace("/", "_").replace(".", "_") + "_nvcc",
            srcs = [cu] + cu_inputs,
            outs = [obj],
            cmd = " ".join([
                _NVCC,
                "-c",
                "-std=c++17",
                "-O3",
                "--expt-relaxed-constexpr",
                "-lineinfo",
                "-Xcompiler=-fPIC",
                "-Xcompiler=-Wall",
                "-DST_WITH_CUDA=1",
                "-I.",
                "-I$(GENDIR)",
                "-gencode=" + (gencode or "arch=compute_$(cuda_arch),code=sm_$(cuda_arch)"),
            ] + nvcc_flags + [
                "-o $@",
                "$(location " + cu + ")",
            ]),
            tags = ["manual"],
        )
        objs.append(":" + obj)
    native.cc_library(
        name = name,
        srcs = srcs + select({
            "//third_party/cuda:enabled": objs,
            "//conditions:default": [],
        }),
        hdrs = hdrs,
        copts = copts,
        deps = deps + ["//third_party/cuda"],
        visibility = visibility,
        **kwargs
    )
