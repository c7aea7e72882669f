#include "gatelab/gemm_peak.hpp"

#include <chrono>

#include "gatelab/blas.hpp"
#include "gatelab/errors.hpp"
#include "gatelab/parallel.hpp"

extern "C" {
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
}

namespace gatelab {

namespace {

template <class T>
std::vector<double> time_gemm(std::size_t n, int repeats) {
  // Values in [-1, 1): no denormals, no overflow, the same for every call.
  std::vector<T> a(n * n), b(n * n), c(n * n, T(0));
  for (std::size_t i = 0; i < n * n; ++i) {
    a[i] = T(int(i * 7919 % 2001) - 1000) / T(1000);
    b[i] = T(int(i * 104729 % 2001) - 1000) / T(1000);
  }
  const int m = static_cast<int>(n);
  auto once = [&] { blas_gemm(CblasNoTrans, CblasNoTrans, m, m, m, T(1), a.data(), m, b.data(), m, T(0), c.data(), m); };
  once();
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    once();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return times;
}

}  // namespace

std::vector<double> gemm_peak_times(const std::string& dtype, std::size_t n, int threads, int repeats) {
  if (n < 1 || n > 16384) fail<ValueError>("gemm_peak_times: n must be in 1..16384, got ", n);
  if (threads < 1) fail<ValueError>("gemm_peak_times: threads must be >= 1, got ", threads);
  if (repeats < 1) fail<ValueError>("gemm_peak_times: repeats must be >= 1, got ", repeats);
  if (dtype != "float64" && dtype != "float32")
    fail<TypeError>("gemm_peak_times: dtype must be 'float64' or 'float32', got '", dtype, "'");
  // OpenBLAS's OpenMP build takes its thread count from the calling thread's OpenMP setting.
  const int saved_omp = max_threads(), saved_blas = openblas_get_num_threads();
  set_max_threads(threads);
  openblas_set_num_threads(threads);
  std::vector<double> times = dtype == "float64" ? time_gemm<double>(n, repeats) : time_gemm<float>(n, repeats);
  set_max_threads(saved_omp);
  openblas_set_num_threads(saved_blas);
  return times;
}

}  // namespace gatelab
