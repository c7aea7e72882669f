// conv1d / conv2d: im2col + GEMM per image (PyTorch's float64 CPU path, CS231n's "fast" layer).
//
// Per image n and group g (R = C/G·FH·FW rows per window, P = OH·OW output positions):
//   forward          Y_g  (K/G × P) = W_g (K/G × R) · cols_g (R × P)       [+ b, pre-filled]
//   backward input   dcols_g (R × P) = W_gᵀ · dY_g, then dx += col2im(dcols)
//   backward weight  dW_g (K/G × R) += dY_g · cols_gᵀ
// A 1x1 kernel with stride 1 and no padding needs no unfold: the columns are x itself.
//
// One input channel per group (C/G = 1: depthwise convolutions, and any conv of a one-channel
// image) skips im2col: there R = FH·FW is so short (9 for 3x3) that a GEMM per image and group
// is mostly call overhead, so a direct kernel slides each tap over whole rows instead
// (conv_direct_*, below the GEMM kernels).
//
// Threads: the batch is split over an OpenMP team, each thread with one column buffer
// allocated per call; every GEMM is one single-threaded BLAS call (gemm_serial), in the team or
// not, so no result depends on BLAS's threading. The weight gradient sums over the batch in
// fixed blocks of images reduced in order, so every result is bitwise the same at any thread
// count.
#include "gatelab/gates/convolution.hpp"

#include <algorithm>
#include <vector>

#include "gatelab/blas.hpp"
#include "gatelab/parallel.hpp"
#include "gatelab/simd.hpp"

namespace gatelab {

namespace {

// One call's geometry in 2-D; conv1d has H = FH = OH = 1 (and stride/padding/dilation 1/0/1 there).
struct ConvShape {
  std::int64_t N, C, H, W;     // x
  std::int64_t K, FH, FW;      // w is (K, C/G, FH, FW)
  std::int64_t OH, OW;         // y is (N, K, OH, OW)
  std::int64_t sh, sw, ph, pw, dh, dw, G;
  std::int64_t Kg() const { return K / G; }            // filters per group
  std::int64_t R() const { return C / G * FH * FW; }   // one group's window size: rows of its columns
  std::int64_t P() const { return OH * OW; }           // output positions per image
  bool direct() const { return FH == 1 && FW == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  bool one_channel() const { return C == G; }             // every group sees one channel: no im2col
};

template <int Dims>
ConvShape conv_shape(const Shape& x, const Shape& w, const Shape& y, const WindowSpec& spec, std::int64_t groups) {
  ConvShape s{};
  s.N = x[0], s.C = x[1], s.K = w[0], s.G = groups;
  if (Dims == 2) s.H = x[2], s.W = x[3], s.FH = w[2], s.FW = w[3], s.OH = y[2], s.OW = y[3];
  else s.H = 1, s.W = x[2], s.FH = 1, s.FW = w[2], s.OH = 1, s.OW = y[2];
  s.sh = spec.stride.h, s.sw = spec.stride.w, s.ph = spec.padding.h, s.pw = spec.padding.w;
  s.dh = spec.dilation.h, s.dw = spec.dilation.w;
  return s;
}

// ---- threads -------------------------------------------------------------------------------------

// body(i, scratch) for i in [0, n): on an OpenMP team when n·cost reaches the grain, serially
// otherwise. Each thread owns one scratch buffer of `scratch` elements (ThreadScratch), allocated
// once per call rather than per item. Items must be independent, so the thread count cannot
// change a result.
template <class T, class Body>
void for_each_item(std::int64_t n, std::int64_t cost, std::int64_t scratch, Body&& body) {
  const bool parallel = n > 1 && double(n) * double(cost) >= double(kParallelGrain) && !in_parallel_region();
  const int team = parallel ? int(std::min<std::int64_t>(max_threads(), n)) : 1;
  ThreadScratch<T> buffers{static_cast<std::size_t>(scratch)};
  if (!parallel) {
    T* mine = buffers.mine();
    for (std::int64_t i = 0; i < n; ++i) body(i, mine);
    return;
  }
#pragma omp parallel num_threads(team)
  {
    T* mine = buffers.mine();
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) body(i, mine);
  }
}

// ---- im2col and its adjoint -----------------------------------------------------------------------

// The im2col correspondence. Column row (c, i, j) holds, for every output position (oh, ow),
// the input element x[c, oh·S - P + i·D, ow·S - P + j·D], or 0 where that falls in the padding.
// Output rows oh in [oh_lo, oh_hi) read a real input row, and within them entries ow in [lo, hi)
// read x[c, ih, ow·S + shift] with shift = j·D - P. Rows are short (OW entries), so both
// directions are written as plain loops compiled per CPU level (GATELAB_VECTORIZE): a call of
// memcpy/memset per 16-entry segment would cost more than the copy.

// cols is (C·FH·FW, OH·OW), x is (C,H,W). Group g's rows are the contiguous block [g·R, (g+1)·R).
template <class T>
GATELAB_VECTORIZE void im2col(T* __restrict cols, const T* __restrict x, const ConvShape& s) {
  const std::int64_t OW = s.OW, sw = s.sw;
  for (std::int64_t c = 0; c < s.C; ++c)
    for (std::int64_t i = 0; i < s.FH; ++i) {
      std::int64_t oh_lo, oh_hi;
      inside(oh_lo, oh_hi, s.OH, s.H, s.sh, s.ph, i * s.dh);
      for (std::int64_t j = 0; j < s.FW; ++j) {
        std::int64_t lo, hi;
        inside(lo, hi, OW, s.W, sw, s.pw, j * s.dw);
        T* row = cols + ((c * s.FH + i) * s.FW + j) * s.P();
        for (std::int64_t q = 0; q < oh_lo * OW; ++q) row[q] = T(0);
        for (std::int64_t q = oh_hi * OW; q < s.OH * OW; ++q) row[q] = T(0);
        for (std::int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          T* r = row + oh * OW;
          const T* xr = x + (c * s.H + oh * s.sh - s.ph + i * s.dh) * s.W + j * s.dw - s.pw;
          for (std::int64_t ow = 0; ow < lo; ++ow) r[ow] = T(0);
          for (std::int64_t ow = lo; ow < hi; ++ow) r[ow] = xr[ow * sw];
          for (std::int64_t ow = hi; ow < OW; ++ow) r[ow] = T(0);
        }
      }
    }
}

// dx is (C,H,W), dcols is (C·FH·FW, OH·OW): dx += the adjoint of im2col. Every column entry
// goes back to the input element it was read from (padding entries are dropped), so an
// element read by several windows receives the sum of their gradients.
template <class T>
GATELAB_VECTORIZE void col2im(T* __restrict dx, const T* __restrict dcols, const ConvShape& s) {
  const std::int64_t OW = s.OW, sw = s.sw;
  for (std::int64_t c = 0; c < s.C; ++c)
    for (std::int64_t i = 0; i < s.FH; ++i) {
      std::int64_t oh_lo, oh_hi;
      inside(oh_lo, oh_hi, s.OH, s.H, s.sh, s.ph, i * s.dh);
      for (std::int64_t j = 0; j < s.FW; ++j) {
        std::int64_t lo, hi;
        inside(lo, hi, OW, s.W, sw, s.pw, j * s.dw);
        const T* row = dcols + ((c * s.FH + i) * s.FW + j) * s.P();
        for (std::int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          const T* r = row + oh * OW;
          T* dxr = dx + (c * s.H + oh * s.sh - s.ph + i * s.dh) * s.W + j * s.dw - s.pw;
          for (std::int64_t ow = lo; ow < hi; ++ow) dxr[ow * sw] += r[ow];
        }
      }
    }
}

// ---- one channel per group: direct kernels ----------------------------------------------------------

// Each tap (i, j) of a one-channel filter slides over whole rows: for output row oh the input
// row is ih = oh·S - P + i·D, and output entries ow in [ow_lo, ow_hi) read x[ih, ow·S + shift],
// shift = j·D - P (the others read the zero padding). direct_plane walks the taps this way for
// the three passes; it is compiled per CPU level (simd.hpp), its row loops vectorized.
enum class Pass { forward, input, weight };

// forward: out = y plane (OH,OW) += Σ_{i,j} w[i,j] · (x plane (H,W) moved by tap (i, j))
// input:   out = dx plane (H,W)  += Σ_{i,j} w[i,j] · (dy plane (OH,OW) moved back by the tap)
// weight:  out = acc (FH·FW, OW): acc[tap, ow] += Σ_oh dy[oh, ow] · x moved by the tap — a row of
//          partial sums per tap, summed by the caller
// `plane` is the other (OH,OW) or (H,W) plane, `aux` the filter w (FH,FW) or, for weight, x.
template <Pass Mode, class T>
GATELAB_VECTORIZE void direct_plane(T* out, const T* plane, const T* aux, const ConvShape& s) {
  for (std::int64_t i = 0; i < s.FH; ++i) {
    std::int64_t oh_lo, oh_hi;
    inside(oh_lo, oh_hi, s.OH, s.H, s.sh, s.ph, i * s.dh);
    for (std::int64_t j = 0; j < s.FW; ++j) {
      std::int64_t lo, hi;
      inside(lo, hi, s.OW, s.W, s.sw, s.pw, j * s.dw);
      const std::int64_t tap = i * s.FW + j, sw = s.sw;
      for (std::int64_t oh = oh_lo; oh < oh_hi; ++oh) {
        const std::int64_t y_row = oh * s.OW, x_row = (oh * s.sh - s.ph + i * s.dh) * s.W + j * s.dw - s.pw;
        if constexpr (Mode == Pass::forward) {
          T* __restrict yr = out + y_row;
          const T* __restrict xr = plane + x_row;
          for (std::int64_t ow = lo; ow < hi; ++ow) yr[ow] += aux[tap] * xr[ow * sw];
        } else if constexpr (Mode == Pass::input) {
          const T* __restrict dyr = plane + y_row;
          T* __restrict dxr = out + x_row;
          for (std::int64_t ow = lo; ow < hi; ++ow) dxr[ow * sw] += aux[tap] * dyr[ow];
        } else {
          T* __restrict a = out + tap * s.OW;
          const T* __restrict dyr = plane + y_row;
          const T* __restrict xr = aux + x_row;
          for (std::int64_t ow = lo; ow < hi; ++ow) a[ow] += dyr[ow] * xr[ow * sw];
        }
      }
    }
  }
}

// Stride 1, the common case, goes further: with every plane stored in rows of the padded
// input's width Wp = W + 2·PW, a tap is a single shift of a flat array,
//
//   y'[q] += w[i,j] · x'[q + i·D·Wp + j·D]   for all q in [0, OH·Wp)
//
// (x' the zero-padded plane, y' the output plane with Wp - OW spare entries per row): one long
// vectorized loop per tap instead of OH short ones. The spare entries are dropped on the way
// out (forward) or are zero on the way in (dy' in the backward passes).
struct WidePlanes {
  std::int64_t Hp, Wp, Q, padded;  // padded input (Hp, Wp); Q = OH·Wp wide output entries
  explicit WidePlanes(const ConvShape& s)
      : Hp(s.H + 2 * s.ph), Wp(s.W + 2 * s.pw), Q(s.OH * (s.W + 2 * s.pw)),
        padded((s.H + 2 * s.ph) * (s.W + 2 * s.pw) + (s.FW - 1) * s.dw) {}  // + the last row's overrun
  std::int64_t offset(const ConvShape& s, std::int64_t tap) const { return tap / s.FW * s.dh * Wp + tap % s.FW * s.dw; }
};

// xw (padded) = the (H,W) plane xp with PH, PW zeros around it, rows of Wp. Rows are short (a
// memmove call per row would cost more than the copy), so the loops are written out.
template <class T>
GATELAB_VECTORIZE void pad_plane(T* __restrict xw, const T* __restrict xp, const ConvShape& s, const WidePlanes& wp) {
  const std::int64_t W = s.W, Wp = wp.Wp;
  for (std::int64_t q = 0; q < wp.padded; ++q) xw[q] = T(0);
  for (std::int64_t h = 0; h < s.H; ++h) {
    T* __restrict row = xw + (h + s.ph) * Wp + s.pw;
    for (std::int64_t v = 0; v < W; ++v) row[v] = xp[h * W + v];
  }
}

// yw (OH, Wp) gets the (OH, OW) plane yp in the first OW entries of each row (the rest is left as is).
template <class T>
GATELAB_VECTORIZE void widen_rows(T* __restrict yw, const T* __restrict yp, const ConvShape& s, const WidePlanes& wp) {
  const std::int64_t OW = s.OW, Wp = wp.Wp;
  for (std::int64_t oh = 0; oh < s.OH; ++oh)
    for (std::int64_t ow = 0; ow < OW; ++ow) yw[oh * Wp + ow] = yp[oh * OW + ow];
}

// yp (OH, OW) = (accumulate ? yp : 0) + the first OW entries of each row of yw (OH, Wp).
template <class T>
GATELAB_VECTORIZE void narrow_rows(T* __restrict yp, const T* __restrict yw, const ConvShape& s, const WidePlanes& wp,
                                   bool accumulate) {
  const std::int64_t OW = s.OW, Wp = wp.Wp;
  for (std::int64_t oh = 0; oh < s.OH; ++oh)
    for (std::int64_t ow = 0; ow < OW; ++ow)
      yp[oh * OW + ow] = accumulate ? yp[oh * OW + ow] + yw[oh * Wp + ow] : yw[oh * Wp + ow];
}

// yw[q] += wt · xw[q] for q in [0, n): one tap on wide planes.
template <class T>
GATELAB_VECTORIZE void wide_axpy(T* __restrict yw, const T* __restrict xw, T wt, std::int64_t n) {
  for (std::int64_t q = 0; q < n; ++q) yw[q] += wt * xw[q];
}

// yw[q] = ((yw[q] + w0·x0[q]) + w1·x1[q]) + w2·x2[q]: three taps in one pass over yw, added in
// the same order (so rounded the same) as three wide_axpy calls, with a third of the traffic.
template <class T>
GATELAB_VECTORIZE void wide_axpy3(T* __restrict yw, const T* __restrict x0, const T* __restrict x1,
                                  const T* __restrict x2, T w0, T w1, T w2, std::int64_t n) {
  for (std::int64_t q = 0; q < n; ++q) yw[q] = ((yw[q] + w0 * x0[q]) + w1 * x1[q]) + w2 * x2[q];
}

// yw += Σ_tap w[tap] · xw moved by the tap, taps in order, three per pass.
template <class T>
void wide_taps(T* yw, const T* xw, const T* w, const ConvShape& s, const WidePlanes& wp) {
  const std::int64_t taps = s.FH * s.FW;
  std::int64_t tap = 0;
  for (; tap + 3 <= taps; tap += 3)
    wide_axpy3(yw, xw + wp.offset(s, tap), xw + wp.offset(s, tap + 1), xw + wp.offset(s, tap + 2), w[tap],
               w[tap + 1], w[tap + 2], wp.Q);
  for (; tap < taps; ++tap) wide_axpy(yw, xw + wp.offset(s, tap), w[tap], wp.Q);
}

// acc[q] += a[q] · b[q] for q in [0, n): one tap's products, kept element-wise.
template <class T>
GATELAB_VECTORIZE void wide_product(T* __restrict acc, const T* __restrict a, const T* __restrict b, std::int64_t n) {
  for (std::int64_t q = 0; q < n; ++q) acc[q] += a[q] * b[q];
}

// y is (N,K,OH,OW), x is (N,C,H,W) with C = G, w is (K,1,FH,FW), b is (K,) or null.
// y[n,k] = b[k] + Σ_{i,j} w[k,i,j] · x[n, k/(K/G)] moved by the tap, taps added in order; one
// (n, c) input plane per item, shared by its K/G filters. With `accumulate`, y += the sum.
template <class T>
void conv_direct_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s, bool accumulate) {
  const std::int64_t P = s.P(), Kg = s.Kg(), taps = s.FH * s.FW;
  if (s.sh != 1 || s.sw != 1) {
    parallel_for(std::size_t(s.N * s.K), [&](std::size_t item) {
      const std::int64_t n = std::int64_t(item) / s.K, k = std::int64_t(item) % s.K;
      T* yp = y + (n * s.K + k) * P;
      if (!accumulate) std::fill(yp, yp + P, b ? b[k] : T(0));
      direct_plane<Pass::forward>(yp, x + (n * s.C + k / Kg) * s.H * s.W, w + k * taps, s);
    }, std::size_t(taps * P));
    return;
  }
  const WidePlanes wp(s);
  ThreadScratch<T> scratch(wp.padded + wp.Q);
  parallel_for(std::size_t(s.N * s.C), [&](std::size_t item) {
    const std::int64_t n = std::int64_t(item) / s.C, c = std::int64_t(item) % s.C;
    T* xw = scratch.mine();
    T* yw = xw + wp.padded;
    pad_plane(xw, x + (n * s.C + c) * s.H * s.W, s, wp);
    for (std::int64_t k = c * Kg; k < (c + 1) * Kg; ++k) {
      std::fill(yw, yw + wp.Q, accumulate || !b ? T(0) : b[k]);
      wide_taps(yw, xw, w + k * taps, s, wp);
      narrow_rows(y + (n * s.K + k) * P, yw, s, wp, accumulate);
    }
  }, std::size_t(Kg * taps * P));
}

// dx is (N,C,H,W), accumulated; dy is (N,K,OH,OW); w is (K,1,FH,FW).
// dx[n,c] += the taps of the K/G filters of channel c applied backwards to their dy planes; one
// (n, c) plane per item, so no two items write the same element.
template <class T>
void conv_direct_backward_input(T* dx, const T* dy, const T* w, const ConvShape& s) {
  const std::int64_t P = s.P(), Kg = s.Kg(), taps = s.FH * s.FW;
  if (s.sh != 1 || s.sw != 1) {
    parallel_for(std::size_t(s.N * s.C), [&](std::size_t item) {
      const std::int64_t n = std::int64_t(item) / s.C, c = std::int64_t(item) % s.C;
      for (std::int64_t k = c * Kg; k < (c + 1) * Kg; ++k)
        direct_plane<Pass::input>(dx + (n * s.C + c) * s.H * s.W, dy + (n * s.K + k) * P, w + k * taps, s);
    }, std::size_t(Kg * taps * P));
    return;
  }
  // dx'[q + offset(tap)] += w · dy'[q]: the forward's shifts, transposed.
  const WidePlanes wp(s);
  ThreadScratch<T> scratch(wp.padded + wp.Q);
  parallel_for(std::size_t(s.N * s.C), [&](std::size_t item) {
    const std::int64_t n = std::int64_t(item) / s.C, c = std::int64_t(item) % s.C;
    T* dxw = scratch.mine();
    T* dyw = dxw + wp.padded;
    std::fill(dxw, dxw + wp.padded, T(0));
    std::fill(dyw, dyw + wp.Q, T(0));
    for (std::int64_t k = c * Kg; k < (c + 1) * Kg; ++k) {
      widen_rows(dyw, dy + (n * s.K + k) * P, s, wp);
      for (std::int64_t tap = 0; tap < taps; ++tap) wide_axpy(dxw + wp.offset(s, tap), dyw, w[k * taps + tap], wp.Q);
    }
    T* dxp = dx + (n * s.C + c) * s.H * s.W;
    for (std::int64_t h = 0; h < s.H; ++h)
      for (std::int64_t v = 0; v < s.W; ++v) dxp[h * s.W + v] += dxw[(h + s.ph) * wp.Wp + v + s.pw];
  }, std::size_t(Kg * taps * P));
}

// dw is (K,1,FH,FW), accumulated; dy is (N,K,OH,OW); x is (N,C,H,W).
// dw[k,i,j] += Σ_n Σ_{oh,ow} dy[n,k,oh,ow] · x[n, c, oh·S - P + i·D, ow·S - P + j·D]; one filter per
// item. The images add, in order, into one row of partial sums per tap (in T, as the GEMM path
// accumulates), and each row is then summed in double: a fixed order at any thread count.
template <class T>
void conv_direct_backward_weight(T* dw, const T* dy, const T* x, const ConvShape& s) {
  const std::int64_t P = s.P(), Kg = s.Kg(), taps = s.FH * s.FW;
  const bool wide = s.sh == 1 && s.sw == 1;
  const WidePlanes wp(s);
  const std::int64_t row = wide ? wp.Q : s.OW;  // partial sums per tap
  ThreadScratch<T> scratch(taps * row + (wide ? wp.padded + wp.Q : 0));
  parallel_for(std::size_t(s.K), [&](std::size_t item) {
    const std::int64_t k = std::int64_t(item), c = k / Kg;
    T* acc = scratch.mine();  // (taps, row)
    std::fill(acc, acc + taps * row, T(0));
    T* xw = acc + taps * row;
    T* dyw = xw + wp.padded;
    if (wide) std::fill(dyw, dyw + wp.Q, T(0));
    for (std::int64_t n = 0; n < s.N; ++n) {
      const T* dyp = dy + (n * s.K + k) * P;
      const T* xp = x + (n * s.C + c) * s.H * s.W;
      if (!wide) {
        direct_plane<Pass::weight>(acc, dyp, xp, s);
        continue;
      }
      pad_plane(xw, xp, s, wp);
      widen_rows(dyw, dyp, s, wp);
      for (std::int64_t tap = 0; tap < taps; ++tap) wide_product(acc + tap * row, dyw, xw + wp.offset(s, tap), wp.Q);
    }
    for (std::int64_t tap = 0; tap < taps; ++tap) {
      double sum = 0.0;
      for (std::int64_t q = 0; q < row; ++q) sum += acc[tap * row + q];
      dw[k * taps + tap] += T(sum);
    }
  }, std::size_t(s.N * taps * P));
}

// ---- the kernels: forward and backward side by side ------------------------------------------------

// y is (N,K,OH,OW), x is (N,C,H,W), w is (K,C/G,FH,FW), b is (K,) or null.
// y = b + conv(x, w); with `accumulate`, y += conv(x, w) instead (jvp's second term).
template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s, bool accumulate) {
  if (s.one_channel()) return conv_direct_forward(y, x, w, b, s, accumulate);
  const std::int64_t R = s.R(), P = s.P(), Kg = s.Kg();
  const bool direct = s.direct();
  for_each_item<T>(s.N, s.K * R * P, direct ? 0 : s.G * R * P, [&](std::int64_t n, T* cols) {
    T* yn = y + n * s.K * P;
    const T* xn = x + n * s.C * s.H * s.W;
    const T* cn = xn;
    if (!direct) {
      im2col(cols, xn, s);
      cn = cols;
    }
    T beta = accumulate ? T(1) : T(0);
    if (!accumulate && b) {  // bias fused: pre-fill, then the GEMM adds onto it
      for (std::int64_t k = 0; k < s.K; ++k) std::fill(yn + k * P, yn + (k + 1) * P, b[k]);
      beta = T(1);
    }
    for (std::int64_t g = 0; g < s.G; ++g)
      gemm_serial(yn + g * Kg * P, w + g * Kg * R, cn + g * R * P, Kg, P, R, GemmOp{}, T(1), beta);
  });
}

// dx is (N,C,H,W), accumulated; dy is (N,K,OH,OW); w is (K,C/G,FH,FW).
// dcols_g = W_gᵀ · dY_g, then dx += col2im(dcols). Images are independent.
template <class T>
void conv2d_backward_input(T* dx, const T* dy, const T* w, const ConvShape& s) {
  if (s.one_channel()) return conv_direct_backward_input(dx, dy, w, s);
  const std::int64_t R = s.R(), P = s.P(), Kg = s.Kg();
  const bool direct = s.direct();
  for_each_item<T>(s.N, s.K * R * P, direct ? 0 : s.G * R * P, [&](std::int64_t n, T* dcols) {
    const T* dyn = dy + n * s.K * P;
    T* dxn = dx + n * s.C * s.H * s.W;
    for (std::int64_t g = 0; g < s.G; ++g) {
      if (direct)  // the columns are x itself: accumulate straight into dx (beta = 1)
        gemm_serial(dxn + g * R * P, w + g * Kg * R, dyn + g * Kg * P, R, P, Kg, GemmOp{true, false}, T(1), T(1));
      else
        gemm_serial(dcols + g * R * P, w + g * Kg * R, dyn + g * Kg * P, R, P, Kg, GemmOp{true, false});
    }
    if (!direct) col2im(dxn, dcols, s);
  });
}

// The batch sum of dW runs in at most this many blocks of images (each block one buffer of
// dW's size, capped in total), independent of the thread count.
constexpr std::int64_t kMaxWeightBlocks = 8;
constexpr std::int64_t kWeightBufferElements = std::int64_t(1) << 22;

// dw is (K,C/G,FH,FW), accumulated; dy is (N,K,OH,OW); x is (N,C,H,W).
// dW_g += Σ_n dY_n,g · cols_n,gᵀ: block b sums its images in order into its own buffer, then the
// buffers are added in block order, so the rounding is the same at 1 thread or 64.
template <class T>
void conv2d_backward_weight(T* dw, const T* dy, const T* x, const ConvShape& s) {
  if (s.one_channel()) return conv_direct_backward_weight(dw, dy, x, s);
  const std::int64_t R = s.R(), P = s.P(), Kg = s.Kg(), size = s.K * R;
  const bool direct = s.direct();
  const std::int64_t blocks =
      std::clamp<std::int64_t>(kWeightBufferElements / size, 1, std::min(s.N, kMaxWeightBlocks));
  // The blocks' partial sums: kept by the calling thread between calls (a fresh buffer would
  // come from mmap and page-fault every call; it holds at most max(kWeightBufferElements, one
  // dW) entries), never zeroed: each block's first image writes its part (beta = 0), the
  // others add to it.
  // (The team's threads see this thread's buffer through `partial`, not their own thread_local.)
  thread_local std::vector<T> partial_buffer;
  if (partial_buffer.size() < std::size_t(blocks * size)) partial_buffer.resize(std::size_t(blocks * size));
  T* const partial = partial_buffer.data();
  const std::int64_t per_block_cost = (s.N + blocks - 1) / blocks * s.K * R * P;
  for_each_item<T>(blocks, per_block_cost, direct ? 0 : s.G * R * P, [&](std::int64_t blk, T* cols) {
    T* part = partial + blk * size;
    const std::int64_t first = blk * s.N / blocks;
    for (std::int64_t n = first; n < (blk + 1) * s.N / blocks; ++n) {
      const T* dyn = dy + n * s.K * P;
      const T* cn = x + n * s.C * s.H * s.W;
      if (!direct) {
        im2col(cols, cn, s);
        cn = cols;
      }
      for (std::int64_t g = 0; g < s.G; ++g)
        gemm_serial(part + g * Kg * R, dyn + g * Kg * P, cn + g * R * P, Kg, R, P, GemmOp{false, true}, T(1),
                    n == first ? T(0) : T(1));
    }
  });
  parallel_for(std::size_t(size), [&](std::size_t i) {
    T sum = partial[i];
    for (std::int64_t blk = 1; blk < blocks; ++blk) sum += partial[blk * size + i];
    dw[i] += sum;
  }, std::size_t(blocks));
}

// Σ_{i<n} v[i] in double, in a fixed order: eight running sums over i mod 8 (independent, so the
// loop vectorizes), then the tail, then the eight sums in order.
template <class T>
GATELAB_VECTORIZE double lane_sum(const T* v, std::int64_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lane[l] += double(v[i + l]);
  double total = 0.0;
  for (; i < n; ++i) total += double(v[i]);
  for (int l = 0; l < 8; ++l) total += lane[l];
  return total;
}

// db is (K,), accumulated; dy is (N,K,OH,OW). db[k] += Σ_{n,p} dy[n,k,p], in double, in a fixed order.
template <class T>
void conv2d_backward_bias(T* db, const T* dy, const ConvShape& s) {
  const std::int64_t P = s.P();
  parallel_for(std::size_t(s.K), [&](std::size_t k) {
    double sum = 0.0;
    for (std::int64_t n = 0; n < s.N; ++n) sum += lane_sum(dy + (n * s.K + std::int64_t(k)) * P, P);
    db[k] += T(sum);
  }, std::size_t(s.N * P));
}

}  // namespace

// ---- the gate --------------------------------------------------------------------------------------

template <int Dims>
ConvGate<Dims>::ConvGate(Pair stride, Pair padding, Pair dilation, std::int64_t groups) : groups_(groups) {
  spec_.dims = Dims;
  spec_.stride = stride;
  spec_.padding = padding;
  spec_.dilation = dilation;
  if (Dims == 1) spec_.stride.h = 1, spec_.padding.h = 0, spec_.dilation.h = 1;
  check_window_params(name(), spec_);
  if (groups < 1)
    fail<ValueError>(name(), ": groups must be >= 1, got ", groups,
                     " (groups=1 is an ordinary convolution, groups=C a depthwise one)");
}

template <int Dims>
std::string ConvGate<Dims>::describe() const {
  std::vector<std::string> parts;
  if (!(spec_.stride == Pair{1, 1})) parts.push_back(pair_param("stride", spec_.stride, Dims));
  if (!(spec_.padding == Pair{0, 0})) parts.push_back(pair_param("padding", spec_.padding, Dims));
  if (!(spec_.dilation == Pair{1, 1})) parts.push_back(pair_param("dilation", spec_.dilation, Dims));
  if (groups_ != 1) parts.push_back("groups=" + std::to_string(groups_));
  return with_params(name(), parts);
}

template <int Dims>
std::unique_ptr<Gate> ConvGate<Dims>::clone() const {
  return std::make_unique<ConvGate>(spec_.stride, spec_.padding, spec_.dilation, groups_);
}

template <int Dims>
std::optional<TensorSpec> ConvGate<Dims>::check(const std::vector<TensorSpec>& in) const {
  const std::string who = name();
  if (in.size() != 2 && in.size() != 3)
    fail<TypeError>(who, ": takes x and w, or x, w and b (a bias); got ", in.size(), " input(s)");
  const DType dtype = common_float_dtype(in);
  const char* x_layout = Dims == 2 ? "(N, C, H, W)" : "(N, C, L)";
  const char* w_layout = Dims == 2 ? "(K, C/groups, FH, FW)" : "(K, C/groups, F)";
  const std::size_t rank = Dims + 2;
  const Shape& x = in[0].shape;
  const Shape& w = in[1].shape;
  if (x.size() != rank)
    fail<ValueError>(who, ": x has shape ", shape_str(x), " (", x.size(), "-D); ", who, " takes x as ", x_layout, ", ",
                     rank, "-D", x.size() + 1 == rank ? " (for a single example use x[None])" : "");
  if (w.size() != rank)
    fail<ValueError>(who, ": w has shape ", shape_str(w), " (", w.size(), "-D); ", who, " takes w as ", w_layout, ", ",
                     rank, "-D");
  if (x[0] == 0)
    fail<ValueError>(who, ": x has shape ", shape_str(x), ": the batch is empty (N = 0); pass at least one example");
  if (x[1] == 0) fail<ValueError>(who, ": x has shape ", shape_str(x), ": it has no channels (C = 0)");
  if (w[0] == 0) fail<ValueError>(who, ": w has shape ", shape_str(w), ": it has no filters (K = 0)");
  for (std::size_t d = 2; d < rank; ++d)
    if (w[d] == 0) fail<ValueError>(who, ": w has shape ", shape_str(w), ": a kernel needs at least one element per axis");
  const std::int64_t C = std::int64_t(x[1]), K = std::int64_t(w[0]), G = groups_;
  if (C % G != 0)
    fail<ValueError>(who, ": groups=", G, " must divide the input channels C=", C, " of x ", shape_str(x),
                     "; each group convolves C/groups of them");
  if (K % G != 0)
    fail<ValueError>(who, ": groups=", G, " must divide the number of filters K=", K, " of w ", shape_str(w),
                     "; each group has K/groups filters");
  if (std::int64_t(w[1]) * G != C) {
    Shape want = w;
    want[1] = std::size_t(C / G);
    fail<ValueError>(who, ": x has C=", C, " channels but w ", shape_str(w), " expects w.shape[1] * groups = ", w[1],
                     " * ", G, " = ", std::int64_t(w[1]) * G, "; w must be ", w_layout, " = ", shape_str(want));
  }
  if (in.size() == 3 && (in[2].shape.size() != 1 || std::int64_t(in[2].shape[0]) != K))
    fail<ValueError>(who, ": b has shape ", shape_str(in[2].shape), " but w ", shape_str(w), " has K=", K,
                     " filters; b must be (", K, ",), one bias per filter");
  WindowSpec spec = spec_;
  spec.kernel = Dims == 2 ? Pair{std::int64_t(w[2]), std::int64_t(w[3])} : Pair{1, std::int64_t(w[2])};
  const Pair size = Dims == 2 ? Pair{std::int64_t(x[2]), std::int64_t(x[3])} : Pair{1, std::int64_t(x[2])};
  const Pair out = window_output_size(who, size, spec, false);
  Shape y = Dims == 2 ? Shape{x[0], w[0], std::size_t(out.h), std::size_t(out.w)} : Shape{x[0], w[0], std::size_t(out.w)};
  return TensorSpec{dtype, y};
}

template <int Dims>
void ConvGate<Dims>::forward(Tensor& out, const Inputs& in) {
  const TensorSpec spec = checked_spec(*this, in);
  ensure_tensor(out, spec.dtype, spec.shape);
  const ConvShape s = conv_shape<Dims>(in[0].shape(), in[1].shape(), spec.shape, spec_, groups_);
  dispatch_float(spec.dtype, name(), [&](auto tag) {
    using T = decltype(tag);
    const T* b = in.size() == 3 ? in[2].data<T>() : nullptr;
    conv2d_forward(out.data<T>(), in[0].data<T>(), in[1].data<T>(), b, s, false);
  });
}

template <int Dims>
void ConvGate<Dims>::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  const ConvShape s = conv_shape<Dims>(in[0].shape(), in[1].shape(), out.shape(), spec_, groups_);
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const T* dy = dout.data<T>();
    if (din[0]) conv2d_backward_input(din[0]->data<T>(), dy, in[1].data<T>(), s);
    if (din[1]) conv2d_backward_weight(din[1]->data<T>(), dy, in[0].data<T>(), s);
    if (in.size() == 3 && din[2]) conv2d_backward_bias(din[2]->data<T>(), dy, s);
  });
}

template <int Dims>
void ConvGate<Dims>::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  ensure_tensor(tangent_out, out.dtype(), out.shape());
  const ConvShape s = conv_shape<Dims>(in[0].shape(), in[1].shape(), out.shape(), spec_, groups_);
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const Tensor* dx = tangent_in[0];
    const Tensor* dw = tangent_in[1];
    const T* db = in.size() == 3 && tangent_in[2] ? tangent_in[2]->data<T>() : nullptr;
    T* dy = tangent_out.data<T>();
    // ẏ = ḃ + conv(ẋ, w), then += conv(x, ẇ); a missing tangent is zero.
    if (dx) conv2d_forward(dy, dx->data<T>(), in[1].data<T>(), db, s, false);
    if (dw) conv2d_forward(dy, in[0].data<T>(), dw->data<T>(), dx ? nullptr : db, s, dx != nullptr);
    if (dx || dw) return;
    if (!db) return tangent_out.fill_zero();
    const std::int64_t P = s.P();
    for (std::int64_t n = 0; n < s.N; ++n)
      for (std::int64_t k = 0; k < s.K; ++k) std::fill(dy + (n * s.K + k) * P, dy + (n * s.K + k + 1) * P, db[k]);
  });
}

template class ConvGate<1>;
template class ConvGate<2>;

}  // namespace gatelab
