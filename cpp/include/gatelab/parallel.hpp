// OpenMP helpers. OpenMP is optional at build time: without it every loop runs serially.
//
// Work below a grain of 32768 elements runs serially, as PyTorch's GRAIN_SIZE does: starting a
// thread team costs more than the loop. Loops handed to parallel_for must be independent per
// index, so results are bitwise identical whatever the thread count.
#pragma once

#include <cstddef>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gatelab {

inline constexpr std::size_t kParallelGrain = 32768;

inline bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline void set_max_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n < 1 ? 1 : n);
#else
  (void)n;
#endif
}

// This thread's number within the current OpenMP team (0 outside one): an index into
// per-thread buffers allocated for that team.
inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline bool in_parallel_region() {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

// The size of the team this code runs in (1 outside a parallel region).
inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// Per-thread scratch buffers of `n` elements, allocated once per call, for a parallel_for
// started here: one per thread of the team it will start, or, when this code already runs
// inside a team (the gradient checker's workers) and parallel_for runs serially, one per
// thread of that team. Each buffer starts 4 KiB-rounded plus one cache line after the previous
// one: two threads never write the same cache line (false sharing made a depthwise conv 1.8x
// slower at 2 threads than at 1 when two buffers shared their boundary line).
template <class T>
class ThreadScratch {
 public:
  explicit ThreadScratch(std::size_t n)
      : stride_((n * sizeof(T) + 4095) / 4096 * 4096 / sizeof(T) + 64 / sizeof(T)),
        data_(static_cast<std::size_t>(max_threads() > team_size() ? max_threads() : team_size()) * stride_) {}
  T* mine() { return data_.data() + static_cast<std::size_t>(thread_index()) * stride_; }

 private:
  std::size_t stride_;
  std::vector<T> data_;
};

// f(i) for i in [0, n); parallel when the total work (n * cost_per_item) reaches the grain.
template <class F>
void parallel_for(std::size_t n, F&& f, std::size_t cost_per_item = 1) {
#ifdef _OPENMP
  if (n > 1 && n * cost_per_item >= kParallelGrain && !omp_in_parallel()) {
    const long long count = static_cast<long long>(n);
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < count; ++i) f(static_cast<std::size_t>(i));
    return;
  }
#endif
  for (std::size_t i = 0; i < n; ++i) f(i);
}

}  // namespace gatelab
