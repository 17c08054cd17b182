// Issue rates of the Hopper units the attention kernels lean on, measured in
// isolation on every SM: wgmma m64n64k16 products (operands from shared
// memory, or A from registers) and ex2 (the softmax's exponential), alone and
// side by side in different warpgroups of one CTA. The floors in
// sparse_transformer/attention/KERNEL_NOTES.md are stated in these units.
#ifndef SPARSE_TRANSFORMER_TOOLS_BENCH_HOPPER_RATES_CUDA_H_
#define SPARSE_TRANSFORMER_TOOLS_BENCH_HOPPER_RATES_CUDA_H_

namespace st::bench {

struct HopperRateCase {
  bool a_in_registers = false;  // RS (A from registers) instead of SS
  int product_warpgroups = 1;   // warpgroups issuing 64x64x64 products
  int exp_warpgroups = 0;       // warpgroups computing 4096 ex2 an iteration
  int iterations = 20000;
};

struct HopperRateResult {
  // Per SM: multiply-adds a clock of the product warpgroups together, and
  // ex2 results a clock of the exp warpgroups together (0 when none).
  double macs_per_clock = 0;
  double exp2_per_clock = 0;
};

// Runs one case on one CTA per SM (clock64 timings of warpgroup 0 of each
// role on CTA 0). Returns a cudaError_t value; cudaErrorNotSupported where
// the device is not of compute capability 9.0.
int MeasureHopperRates(const HopperRateCase& c, HopperRateResult* result);

}  // namespace st::bench

#endif  // SPARSE_TRANSFORMER_TOOLS_BENCH_HOPPER_RATES_CUDA_H_
