// Counter-based random numbers: value i of stream s under seed k is a pure
// function of (k, s, i). Initialisation and dropout masks therefore never
// depend on call order or thread count, and a recomputed block regenerates
// exactly the dropout mask of its first forward pass.
#ifndef SPARSE_TRANSFORMER_CORE_RNG_H_
#define SPARSE_TRANSFORMER_CORE_RNG_H_

#include <cmath>
#include <cstdint>

namespace st {

// The splitmix64 finaliser: a bijection on 64-bit words with full avalanche.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Random 64-bit word number `counter` of `stream` under `seed`. Two rounds
// of mixing decorrelate neighbouring streams and counters.
inline uint64_t CounterHash(uint64_t seed, uint64_t stream, uint64_t counter) {
  uint64_t key = Mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1));
  return Mix64(key ^ Mix64(counter + 0x632be59bd9b4e019ULL));
}

// Uniform in [0, 1) from the top 53 bits of a word.
inline double ToUnitDouble(uint64_t bits) {
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

// A stream of random numbers addressed by index (no hidden state).
class CounterRng {
 public:
  CounterRng(uint64_t seed, uint64_t stream)
      : key_(Mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1))) {}

  // Equals CounterHash(seed, stream, i); the key is mixed once, not per call.
  uint64_t Bits(uint64_t i) const {
    return Mix64(key_ ^ Mix64(i + 0x632be59bd9b4e019ULL));
  }
  // Uniform in [0, 1).
  double Uniform(uint64_t i) const { return ToUnitDouble(Bits(i)); }
  // Standard normal (Box-Muller on the words 2i and 2i+1).
  double Normal(uint64_t i) const {
    double u1 = 1.0 - ToUnitDouble(Bits(2 * i));  // (0, 1]: log is finite
    double u2 = ToUnitDouble(Bits(2 * i + 1));
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t key_;
};

}  // namespace st

#endif  // SPARSE_TRANSFORMER_CORE_RNG_H_
