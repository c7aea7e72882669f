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
#include <vector>

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

// How the product is cut, from (M, N, K) only: into tiles of about kGemmTileWork multiply-adds,
// so that each BLAS call is long enough to amortize its packing and a product of a few tiles
// still shares among threads; a product of a quarter of that or more is cut in at least two.
// - A small C (M·N <= 64k entries) with a long K, like the affine layer's (128, 3072) · (3072, 100),
//   is cut along K (into at most 8 slices): each slice multiplies whole (M, N) blocks, nothing is
//   packed twice, and the slices' partial products are added in slice order afterwards. (Cutting its 128 rows instead
//   makes BLAS re-pack all of B for every tile: 32-row tiles run at ~80% of one call's speed.)
// - Otherwise rows are cut first, in multiples of 16 and at least 32 per tile; columns only
//   when the rows cannot be (M small, N long).
struct GemmTiles {
  std::size_t rows, cols, depth;  // a tile's extent along M, N, K
  std::size_t row_tiles, col_tiles, depth_tiles;
};

inline constexpr std::size_t kGemmTileWork = std::size_t{1} << 23;

inline GemmTiles gemm_tiles(std::size_t m, std::size_t n, std::size_t k) {
  auto round_up = [](std::size_t v, std::size_t q) { return (v + q - 1) / q * q; };
  auto ceil_div = [](std::size_t v, std::size_t q) { return (v + q - 1) / q; };
  std::size_t rows = m, cols = n, depth = k;
  const std::size_t work = m * n * k;
  if (work >= kGemmTileWork / 4) {  // from 2M multiply-adds (~40 µs) on, at least two tiles
    std::size_t tiles = std::max<std::size_t>(2, ceil_div(work, kGemmTileWork));
    if (m * n <= 65536 && k >= 1024) {  // slices of at least 512, in multiples of 64
      std::size_t even = 1;
      while (even < tiles) even *= 2;  // a power of two shares evenly among 2, 4, 8 threads
      depth = round_up(ceil_div(k, std::min({even, k / 512, std::size_t{8}})), 64);
      tiles = ceil_div(tiles, ceil_div(k, depth));
    }
    if (tiles > 1) {
      rows = std::min(m, std::max<std::size_t>(32, round_up(ceil_div(m, tiles), 16)));
      const std::size_t row_tiles = ceil_div(m, rows);
      if (row_tiles < tiles)  // too few rows to cut: cut the columns of each row tile too
        cols = std::min(n, std::max<std::size_t>(64, round_up(ceil_div(n * row_tiles, tiles), 64)));
    }
  }
  return {rows, cols, depth, ceil_div(m, rows), ceil_div(n, cols), ceil_div(k, depth)};
}

// c (M,N) = alpha · op(a) · op(b) + beta · c as one single-threaded BLAS call, for callers that
// run many small products in their own parallel loop (one per image, say). Arguments as gemm's.
template <class T>
void gemm_serial(T* c, const T* a, const T* b, std::size_t m, std::size_t n, std::size_t k, GemmOp op,
                 T alpha = T(1), T beta = T(0), std::size_t lda = 0, std::size_t ldb = 0, std::size_t ldc = 0) {
  if (m == 0 || n == 0) return;
  if (ldc == 0) ldc = n;
  if (k == 0) {
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
    fail<ValueError>("gemm: dimensions (", m, ", ", n, ", ", k, ") exceed what BLAS can index");
  if (lda == 0) lda = op.trans_a ? m : k;
  if (ldb == 0) ldb = op.trans_b ? k : n;
  SerialBlasScope serial;
  blas_gemm(op.trans_a ? CblasTrans : CblasNoTrans, op.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m),
            static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
            c, static_cast<int>(ldc));
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
  const std::size_t lda = op.trans_a ? m : k;
  const std::size_t ldb = op.trans_b ? k : n;
  // K slice 0 goes straight into c (with beta); slices 1.. into partial products, added below.
  // Their buffer (at most 7 · 64k entries) is kept by the calling thread between calls: a fresh
  // one would come from mmap each time and page-fault on first touch (~10% of an affine layer).
  thread_local std::vector<T> partial_buffer;
  if (partial_buffer.size() < (t.depth_tiles - 1) * m * n) partial_buffer.resize((t.depth_tiles - 1) * m * n);
  T* const partial = partial_buffer.data();
  parallel_for(t.row_tiles * t.col_tiles * t.depth_tiles, [&](std::size_t tile) {
    const std::size_t d = tile % t.depth_tiles, block = tile / t.depth_tiles;
    const std::size_t i0 = (block / t.col_tiles) * t.rows, j0 = (block % t.col_tiles) * t.cols, k0 = d * t.depth;
    const std::size_t tm = std::min(t.rows, m - i0), tn = std::min(t.cols, n - j0), tk = std::min(t.depth, k - k0);
    const T* ap = op.trans_a ? a + k0 * m + i0 : a + i0 * k + k0;  // rows i0.., depths k0.. of op(a)
    const T* bp = op.trans_b ? b + j0 * k + k0 : b + k0 * n + j0;  // depths k0.., columns j0.. of op(b)
    T* cp = d == 0 ? c : partial + (d - 1) * m * n;
    gemm_serial(cp + i0 * n + j0, ap, bp, tm, tn, tk, op, alpha, d == 0 ? beta : T(0), lda, ldb, n);
  }, t.rows * t.cols * t.depth);
  if (t.depth_tiles == 1) return;
  parallel_for(m, [&](std::size_t i) {  // c += the slices' products, in slice order
    for (std::size_t j = 0; j < n; ++j) {
      T sum = c[i * n + j];
      for (std::size_t d = 1; d < t.depth_tiles; ++d) sum += partial[(d - 1) * m * n + i * n + j];
      c[i * n + j] = sum;
    }
  }, n * t.depth_tiles);
}

}  // namespace gatelab
