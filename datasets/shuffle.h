// A portable, seeded shuffle. std::shuffle's sequence of draws is left to the
// standard library, so the same seed could give another order elsewhere;
// prepared data must be byte-identical on every rebuild.
#ifndef SPARSE_TRANSFORMER_DATASETS_SHUFFLE_H_
#define SPARSE_TRANSFORMER_DATASETS_SHUFFLE_H_

#include <cstdint>
#include <utility>
#include <vector>

namespace st {
namespace datasets {

// SplitMix64: the i-th output of the stream for `seed`.
inline uint64_t SplitMix64(uint64_t seed, uint64_t i) {
  uint64_t x = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Fisher-Yates with SplitMix64 draws (multiply-high, bias < n / 2^64).
template <typename T>
void Shuffle(uint64_t seed, std::vector<T>* v) {
  for (size_t i = v->size(); i > 1; --i) {
    const uint64_t bits = SplitMix64(seed, i);
    const size_t j =
        static_cast<size_t>((static_cast<unsigned __int128>(bits) * i) >> 64);
    std::swap((*v)[i - 1], (*v)[j]);
  }
}

}  // namespace datasets
}  // namespace st

#endif  // SPARSE_TRANSFORMER_DATASETS_SHUFFLE_H_
