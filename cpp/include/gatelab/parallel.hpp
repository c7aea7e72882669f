// OpenMP helpers. OpenMP is optional at build time: without it every loop runs serially.
//
// Work below a grain of 32768 elements runs serially, as PyTorch's GRAIN_SIZE does: starting a
// thread team costs more than the loop. Loops handed to parallel_for must be independent per
// index, so results are bitwise identical whatever the thread count.
#pragma once

#include <cstddef>

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
