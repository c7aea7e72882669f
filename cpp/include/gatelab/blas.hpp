// GEMM through CBLAS (OpenBLAS), templated over float/double, into preallocated memory.
//
//   C (M,N) = alpha · op(A) · op(B) + beta · C,   op(X) = X or Xᵀ,   all row-major, contiguous.
//
// Bitwise reproducibility. OpenBLAS's own threading is not reproducible across thread counts:
// its threaded driver cuts the K sum into blocks by a different rule than its serial driver
// (for GEMM_Q < K < 2·GEMM_Q), so the same product rounds differently at 1 and 2 threads. So
// gatelab never lets BLAS thread: C is cut into fixed tiles (chosen from M, N, K only, never
// from the thread count), each tile is one single-threaded BLAS call, and the tiles run in
// parallel with our own OpenMP loop. Every element is then computed the same way whatever the
// thread count.
//
// Degenerate sizes BLAS dislikes are handled here: M or N = 0 writes nothing, K = 0 leaves
// beta·C (an empty sum is 0, as NumPy's matmul gives). With beta = 1 the product accumulates
// into C, which is how backward passes add into gradients.
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>

#include <cblas.h>

#include "gatelab/errors.hpp"
#include "gatelab/parallel.hpp"

namespace gatelab {

struct GemmOp {
  bool trans_a = false;  // A is stored (K, M) and used transposed
  bool trans_b = false;  // B is stored (N, K) and used transposed
};

inline void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha, const double* a,
                      int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha, const float* a,
                      int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// While alive, BLAS calls from this thread run single-threaded: OpenBLAS's OpenMP build takes
// its thread count from omp_get_max_threads(), which omp_set_num_threads sets for the calling
// task only. (Inside a parallel region OpenBLAS is single-threaded anyway.)
class SerialBlasScope {
 public:
#ifdef _OPENMP
  SerialBlasScope() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SerialBlasScope() { omp_set_num_threads(saved_); }

 private:
  int saved_;
#endif
};

// How C is cut: tiles of `rows` × `cols`, about kGemmTileWork multiply-adds each, so that a
// tile amortizes BLAS's packing and there are enough tiles to share among threads.
struct GemmTiles {
  std::size_t rows, cols, row_tiles, col_tiles;
};

inline constexpr std::size_t kGemmTileWork = std::size_t{1} << 20;

inline GemmTiles gemm_tiles(std::size_t m, std::size_t n, std::size_t k) {
  auto round_up = [](std::size_t v, std::size_t q) { return (v + q - 1) / q * q; };
  std::size_t rows = m, cols = n;
  if (m * n * k > kGemmTileWork) {
    rows = std::min(m, std::max<std::size_t>(16, round_up(kGemmTileWork / (n * k) + 1, 16)));
    if (rows < m && rows * n * k > 4 * kGemmTileWork)  // few rows but long ones: cut columns too
      cols = std::min(n, std::max<std::size_t>(64, round_up(kGemmTileWork / (rows * k) + 1, 64)));
  }
  return {rows, cols, (m + rows - 1) / rows, (n + cols - 1) / cols};
}

// c (M,N) = alpha · op(a) · op(b) + beta · c; a stored (M,K) or, with trans_a, (K,M); b stored
// (K,N) or, with trans_b, (N,K).
template <class T>
void gemm(T* c, const T* a, const T* b, std::size_t m, std::size_t n, std::size_t k, GemmOp op, T alpha = T(1),
          T beta = T(0)) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (std::size_t i = 0; i < m * n; ++i) c[i] = beta == T(0) ? T(0) : beta * c[i];
    return;
  }
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
    fail<ValueError>("gemm: dimensions (", m, ", ", n, ", ", k, ") exceed what BLAS can index");
  const GemmTiles t = gemm_tiles(m, n, k);
  const int lda = static_cast<int>(op.trans_a ? m : k);
  const int ldb = static_cast<int>(op.trans_b ? k : n);
  parallel_for(t.row_tiles * t.col_tiles, [&](std::size_t tile) {
    const std::size_t i0 = (tile / t.col_tiles) * t.rows, j0 = (tile % t.col_tiles) * t.cols;
    const std::size_t tm = std::min(t.rows, m - i0), tn = std::min(t.cols, n - j0);
    const T* ap = op.trans_a ? a + i0 : a + i0 * k;  // rows i0.. of op(a)
    const T* bp = op.trans_b ? b + j0 * k : b + j0;  // columns j0.. of op(b)
    SerialBlasScope serial;
    blas_gemm(op.trans_a ? CblasTrans : CblasNoTrans, op.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(tm),
              static_cast<int>(tn), static_cast<int>(k), alpha, ap, lda, bp, ldb, beta, c + i0 * n + j0,
              static_cast<int>(n));
  }, t.rows * t.cols * k);
}

}  // namespace gatelab
