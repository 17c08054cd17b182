// Measures the Hopper rates the attention kernels' floors are stated in
// (wgmma m64n64k16 products, ex2) on every SM, alone and side by side, and
// prints one table.
//
//   gpu_stage/bin/hopper_rates [--iterations=20000]
//
// Per SM and clock: multiply-adds of the product warpgroups together, and
// ex2 results of the exp warpgroups together. A case with both shows whether
// the tensor cores and the special-function units overlap when different
// warpgroups use them.
#include <cstdio>

#include "gflags/gflags.h"
#include "tools/bench/hopper_rates_cuda.h"

#if ST_WITH_CUDA
#include <cuda_runtime.h>
#endif

DEFINE_int32(iterations, 20000, "products (or 4096-ex2 tiles) a warpgroup");

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
#if ST_WITH_CUDA
  struct Row {
    const char* name;
    bool rs;
    int products, exps;
  };
  const Row rows[] = {
      {"products SS", false, 1, 0},
      {"products SS", false, 2, 0},
      {"products SS", false, 4, 0},
      {"products RS", true, 1, 0},
      {"products RS", true, 4, 0},
      {"ex2", false, 0, 2},
      {"ex2", false, 0, 4},
      {"products SS + ex2", false, 1, 1},
      {"products SS + ex2", false, 2, 2},
  };
  std::printf(
      "| case | product warpgroups | ex2 warpgroups | MAC/clock/SM | "
      "ex2/clock/SM |\n|---|---:|---:|---:|---:|\n");
  for (const Row& row : rows) {
    st::bench::HopperRateCase c;
    c.a_in_registers = row.rs;
    c.product_warpgroups = row.products;
    c.exp_warpgroups = row.exps;
    c.iterations = FLAGS_iterations;
    st::bench::HopperRateResult r;
    const int err = st::bench::MeasureHopperRates(c, &r);
    if (err != 0) {
      std::fprintf(stderr, "hopper_rates: %s: %s\n", row.name,
                   cudaGetErrorString(static_cast<cudaError_t>(err)));
      return 1;
    }
    std::printf("| %s | %d | %d | %.0f | %.1f |\n", row.name, row.products,
                row.exps, r.macs_per_clock, r.exp2_per_clock);
  }
  return 0;
#else
  std::fprintf(stderr, "hopper_rates: built without CUDA (--config=cuda)\n");
  return 1;
#endif
}
