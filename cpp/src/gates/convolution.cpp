// conv1d / conv2d: im2col + GEMM per image (PyTorch's float64 CPU path, CS231n's "fast" layer).
//
// Per image n and group g (R = C/G·FH·FW rows per window, P = OH·OW output positions):
//   forward          Y_g  (K/G × P) = W_g (K/G × R) · cols_g (R × P)       [+ b, pre-filled]
//   backward input   dcols_g (R × P) = W_gᵀ · dY_g, then dx += col2im(dcols)
//   backward weight  dW_g (K/G × R) += dY_g · cols_gᵀ
// A 1x1 kernel with stride 1 and no padding needs no unfold: the columns are x itself.
//
// Threads: the batch is split over an OpenMP team, each thread with one column buffer
// allocated per call; OpenBLAS (its OpenMP build) runs single-threaded inside the team. The
// weight gradient sums over the batch in fixed blocks of images reduced in order, so every
// result is bitwise the same at any thread count.
#include "gatelab/gates/convolution.hpp"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "gatelab/parallel.hpp"

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

// ---- BLAS: C (M×N) = op(A) · op(B) + beta·C, row-major -----------------------------------------

inline void gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
                 const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K),
              1.0f, A, int(lda), B, int(ldb), beta, C, int(ldc));
}
inline void gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const double* A, std::int64_t lda,
                 const double* B, std::int64_t ldb, double beta, double* C, std::int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K),
              1.0, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

// ---- threads -------------------------------------------------------------------------------------

// body(i, scratch) for i in [0, n): on an OpenMP team when n·cost reaches the grain, serially
// otherwise. Each thread owns one scratch buffer of `scratch` elements, allocated once per call
// rather than per item. Items must be independent, so the thread count cannot change a result.
template <class T, class Body>
void for_each_item(std::int64_t n, std::int64_t cost, std::int64_t scratch, Body&& body) {
  const bool parallel = n > 1 && double(n) * double(cost) >= double(kParallelGrain) && !in_parallel_region();
  const int team = parallel ? int(std::min<std::int64_t>(max_threads(), n)) : 1;
  std::vector<T> buffers(std::size_t(team) * std::size_t(scratch));
  if (!parallel) {
    for (std::int64_t i = 0; i < n; ++i) body(i, buffers.data());
    return;
  }
#pragma omp parallel num_threads(team)
  {
    T* mine = buffers.data() + std::size_t(thread_index()) * std::size_t(scratch);
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) body(i, mine);
  }
}

// ---- im2col and its adjoint -----------------------------------------------------------------------

// The output positions o in [lo, hi) whose input index o·S - P + off lies inside [0, n).
void inside(std::int64_t& lo, std::int64_t& hi, std::int64_t out, std::int64_t n, std::int64_t s, std::int64_t p,
            std::int64_t off) {
  const std::int64_t first = p - off;         // o·S >= P - off
  const std::int64_t last = n - 1 + p - off;  // o·S <= n - 1 + P - off
  lo = std::min(out, first <= 0 ? 0 : (first + s - 1) / s);
  hi = std::clamp(last < 0 ? 0 : last / s + 1, lo, out);
}

// The im2col correspondence, one segment (column row, output row) at a time. For column row
// (c, i, j) and output row oh, the input row is ih = oh·S - P + i·D; entries ow in [lo, hi) read
// x[c, ih, ow·S + shift] and the others fall in the zero padding. visit(col, x_row, lo, hi, shift)
// receives the offsets of cols[(c·FH + i)·FW + j, oh·OW] and of x[c, ih, 0]; a row ih in the
// padding comes with lo = hi = 0.
template <class Visit>
void walk_columns(const ConvShape& s, Visit&& visit) {
  for (std::int64_t c = 0; c < s.C; ++c)
    for (std::int64_t i = 0; i < s.FH; ++i) {
      std::int64_t oh_lo, oh_hi;
      inside(oh_lo, oh_hi, s.OH, s.H, s.sh, s.ph, i * s.dh);
      for (std::int64_t j = 0; j < s.FW; ++j) {
        std::int64_t ow_lo, ow_hi;
        inside(ow_lo, ow_hi, s.OW, s.W, s.sw, s.pw, j * s.dw);
        const std::int64_t row = ((c * s.FH + i) * s.FW + j) * s.P(), shift = j * s.dw - s.pw;
        for (std::int64_t oh = 0; oh < s.OH; ++oh) {
          if (oh < oh_lo || oh >= oh_hi) visit(row + oh * s.OW, 0, 0, 0, shift);
          else visit(row + oh * s.OW, (c * s.H + oh * s.sh - s.ph + i * s.dh) * s.W, ow_lo, ow_hi, shift);
        }
      }
    }
}

// cols is (C·FH·FW, OH·OW), x is (C,H,W):
//   cols[(c·FH + i)·FW + j, oh·OW + ow] = x[c, oh·S - P + i·D, ow·S - P + j·D], 0 in the padding.
// Group g's rows are the contiguous block [g·R, (g+1)·R).
template <class T>
void im2col(T* cols, const T* x, const ConvShape& s) {
  walk_columns(s, [&](std::int64_t col, std::int64_t xrow, std::int64_t lo, std::int64_t hi, std::int64_t shift) {
    T* r = cols + col;
    std::fill(r, r + lo, T(0));
    for (std::int64_t ow = lo; ow < hi; ++ow) r[ow] = x[xrow + ow * s.sw + shift];
    std::fill(r + hi, r + s.OW, T(0));
  });
}

// dx is (C,H,W), dcols is (C·FH·FW, OH·OW): dx += the adjoint of im2col. Every column entry
// goes back to the input element it was read from (padding entries are dropped), so an
// element read by several windows receives the sum of their gradients.
template <class T>
void col2im(T* dx, const T* dcols, const ConvShape& s) {
  walk_columns(s, [&](std::int64_t col, std::int64_t xrow, std::int64_t lo, std::int64_t hi, std::int64_t shift) {
    const T* r = dcols + col;
    for (std::int64_t ow = lo; ow < hi; ++ow) dx[xrow + ow * s.sw + shift] += r[ow];
  });
}

// ---- the kernels: forward and backward side by side ------------------------------------------------

// y is (N,K,OH,OW), x is (N,C,H,W), w is (K,C/G,FH,FW), b is (K,) or null.
// y = b + conv(x, w); with `accumulate`, y += conv(x, w) instead (jvp's second term).
template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, const ConvShape& s, bool accumulate) {
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
      gemm(false, false, Kg, P, R, w + g * Kg * R, R, cn + g * R * P, P, beta, yn + g * Kg * P, P);
  });
}

// dx is (N,C,H,W), accumulated; dy is (N,K,OH,OW); w is (K,C/G,FH,FW).
// dcols_g = W_gᵀ · dY_g, then dx += col2im(dcols). Images are independent.
template <class T>
void conv2d_backward_input(T* dx, const T* dy, const T* w, const ConvShape& s) {
  const std::int64_t R = s.R(), P = s.P(), Kg = s.Kg();
  const bool direct = s.direct();
  for_each_item<T>(s.N, s.K * R * P, direct ? 0 : s.G * R * P, [&](std::int64_t n, T* dcols) {
    const T* dyn = dy + n * s.K * P;
    T* dxn = dx + n * s.C * s.H * s.W;
    for (std::int64_t g = 0; g < s.G; ++g) {
      if (direct)  // the columns are x itself: accumulate straight into dx (beta = 1)
        gemm(true, false, R, P, Kg, w + g * Kg * R, R, dyn + g * Kg * P, P, T(1), dxn + g * R * P, P);
      else
        gemm(true, false, R, P, Kg, w + g * Kg * R, R, dyn + g * Kg * P, P, T(0), dcols + g * R * P, P);
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
  const std::int64_t R = s.R(), P = s.P(), Kg = s.Kg(), size = s.K * R;
  const bool direct = s.direct();
  const std::int64_t blocks =
      std::clamp<std::int64_t>(kWeightBufferElements / size, 1, std::min(s.N, kMaxWeightBlocks));
  std::vector<T> partial(std::size_t(blocks * size), T(0));
  const std::int64_t per_block_cost = (s.N + blocks - 1) / blocks * s.K * R * P;
  for_each_item<T>(blocks, per_block_cost, direct ? 0 : s.G * R * P, [&](std::int64_t blk, T* cols) {
    T* part = partial.data() + blk * size;
    for (std::int64_t n = blk * s.N / blocks; n < (blk + 1) * s.N / blocks; ++n) {
      const T* dyn = dy + n * s.K * P;
      const T* cn = x + n * s.C * s.H * s.W;
      if (!direct) {
        im2col(cols, cn, s);
        cn = cols;
      }
      for (std::int64_t g = 0; g < s.G; ++g)
        gemm(false, true, Kg, R, P, dyn + g * Kg * P, P, cn + g * R * P, P, T(1), part + g * Kg * R, R);
    }
  });
  parallel_for(std::size_t(size), [&](std::size_t i) {
    T sum = partial[i];
    for (std::int64_t blk = 1; blk < blocks; ++blk) sum += partial[blk * size + i];
    dw[i] += sum;
  }, std::size_t(blocks));
}

// db is (K,), accumulated; dy is (N,K,OH,OW). db[k] += Σ_{n,p} dy[n,k,p], in double, in a fixed order.
template <class T>
void conv2d_backward_bias(T* db, const T* dy, const ConvShape& s) {
  const std::int64_t P = s.P();
  parallel_for(std::size_t(s.K), [&](std::size_t k) {
    double sum = 0.0;
    for (std::int64_t n = 0; n < s.N; ++n) {
      const T* row = dy + (n * s.K + std::int64_t(k)) * P;
      for (std::int64_t p = 0; p < P; ++p) sum += row[p];
    }
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
