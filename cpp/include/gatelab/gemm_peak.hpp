// A yardstick for the benchmarks, not a gate: how fast this machine's BLAS multiplies two
// n×n matrices, with BLAS's own threading. Benchmark rows report GFLOP/s against it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace gatelab {

// Seconds for each of `repeats` calls of C = A·B (n×n, row-major, float64 or float32), after
// one untimed warm-up call, with BLAS running on `threads` threads. The matrices are allocated
// once, before any timing. One product is 2·n³ floating-point operations.
std::vector<double> gemm_peak_times(const std::string& dtype, std::size_t n, int threads, int repeats);

}  // namespace gatelab
