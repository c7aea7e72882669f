// max_pool2d / avg_pool2d: direct loops over each window, parallel over the N·C planes (every
// plane is independent, so results don't depend on the thread count).
#include "gatelab/gates/pooling.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "gatelab/parallel.hpp"
#include "gatelab/simd.hpp"

namespace gatelab {

namespace {

// One call's geometry: `planes` = N·C independent (H, W) -> (OH, OW) maps.
struct PoolShape {
  std::int64_t planes, H, W, OH, OW;
  std::int64_t kh, kw, sh, sw, ph, pw;
  std::int64_t cost() const { return OH * OW * kh * kw; }  // work per plane
};

PoolShape pool_shape(const Shape& x, const Shape& y, const WindowSpec& spec) {
  return {std::int64_t(x[0] * x[1]), std::int64_t(x[2]), std::int64_t(x[3]), std::int64_t(y[2]), std::int64_t(y[3]),
          spec.kernel.h, spec.kernel.w, spec.stride.h, spec.stride.w, spec.padding.h, spec.padding.w};
}

// The window of output (oh, ow): input rows [h0, h1) and columns [w0, w1), clipped to the input;
// `padded_area` is its area before clipping to the input (but within the padded input).
struct Window {
  std::int64_t h0, h1, w0, w1, padded_area;
};

Window window_at(const PoolShape& s, std::int64_t oh, std::int64_t ow) {
  Window win;
  win.h0 = oh * s.sh - s.ph;
  win.w0 = ow * s.sw - s.pw;
  win.h1 = std::min(win.h0 + s.kh, s.H + s.ph);
  win.w1 = std::min(win.w0 + s.kw, s.W + s.pw);
  win.padded_area = (win.h1 - win.h0) * (win.w1 - win.w0);
  win.h0 = std::max<std::int64_t>(win.h0, 0), win.w0 = std::max<std::int64_t>(win.w0, 0);
  win.h1 = std::min(win.h1, s.H), win.w1 = std::min(win.w1, s.W);
  return win;
}

// ---- max: forward, backward, jvp --------------------------------------------------------------

// One plane: yp and ap (OH, OW), xp (H, W). For each output row the window's taps (i, j) are
// visited in scan order (row by row), each over the whole row of windows at once — a loop the
// compiler vectorizes — keeping per window the running max and where it was. Taking a tap when
// `v > best || isnan(v)` keeps the first maximum on ties and lets NaN win (PyTorch's rule), the
// same outcome as scanning each window on its own. Padding never wins: best starts at -inf,
// where at the window's first element inside the input.
template <class T>
GATELAB_VECTORIZE void max_pool_plane(T* yp, std::int64_t* ap, const T* xp, const PoolShape& s) {
  // Locals, not s's members: stores through `where` (int64) could otherwise alias them.
  const std::int64_t H = s.H, W = s.W, OH = s.OH, OW = s.OW, sh = s.sh, sw = s.sw, ph = s.ph, pw = s.pw;
  for (std::int64_t oh = 0; oh < OH; ++oh) {
    T* __restrict best = yp + oh * OW;
    std::int64_t* __restrict where = ap + oh * OW;
    const std::int64_t h0 = std::max<std::int64_t>(oh * sh - ph, 0);
    for (std::int64_t ow = 0; ow < OW; ++ow) {
      best[ow] = -std::numeric_limits<T>::infinity();
      where[ow] = h0 * W + std::max<std::int64_t>(ow * sw - pw, 0);
    }
    for (std::int64_t i = 0; i < s.kh; ++i) {
      const std::int64_t ih = oh * sh - ph + i;
      if (ih < 0 || ih >= H) continue;
      for (std::int64_t j = 0; j < s.kw; ++j) {
        std::int64_t lo, hi;
        inside(lo, hi, OW, W, sw, pw, j);
        const std::int64_t base = ih * W + j - pw;  // flat index of x[ih, ow·S + j - P] is base + ow·S
        const T* __restrict xr = xp + base;
        for (std::int64_t ow = lo; ow < hi; ++ow) {
          const T v = xr[ow * sw];
          const bool take = (v > best[ow]) | (v != v);  // bitwise: no branch per element
          best[ow] = take ? v : best[ow];
          where[ow] = take ? base + ow * sw : where[ow];
        }
      }
    }
  }
}

// The same without padding, for short rows (OW < 16, too short for the row loop to vectorize
// well): every window lies inside the input, so each tap is one pass over all OH·OW windows of
// the plane, reading x at start[q] + tap (start[q] = oh·S·W + ow·S, the window's first element).
// The indices have T's width (I = int32 for float), so a compare's mask selects them directly
// and the loop vectorizes.
template <class T, class I>
GATELAB_VECTORIZE void max_pool_plane_unpadded(T* __restrict best, I* __restrict where, const T* xp,
                                               const I* __restrict start, const PoolShape& s) {
  const std::int64_t windows = s.OH * s.OW, kh = s.kh, kw = s.kw;
  const I W = I(s.W);
  for (std::int64_t q = 0; q < windows; ++q) {
    best[q] = -std::numeric_limits<T>::infinity();
    where[q] = start[q];
  }
  for (I i = 0; i < I(kh); ++i)
    for (I j = 0; j < I(kw); ++j) {
      const I tap = i * W + j;
      for (std::int64_t q = 0; q < windows; ++q) {
        const T v = xp[start[q] + tap];
        const bool take = (v > best[q]) | (v != v);
        best[q] = take ? v : best[q];
        where[q] = take ? I(start[q] + tap) : where[q];
      }
    }
}

// y and argmax are (planes, OH, OW), x is (planes, H, W): the max of each window and its flat
// index within the plane (ih·W + iw), one plane per item.
template <class T>
void max_pool2d_forward(T* y, std::int64_t* argmax, const T* x, const PoolShape& s) {
  using I = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
  const std::int64_t windows = s.OH * s.OW;
  if (s.ph == 0 && s.pw == 0 && s.OW < 16 && s.H * s.W < (std::int64_t(1) << 30)) {
    std::vector<I> start(static_cast<std::size_t>(windows));
    for (std::int64_t oh = 0; oh < s.OH; ++oh)
      for (std::int64_t ow = 0; ow < s.OW; ++ow) start[oh * s.OW + ow] = I(oh * s.sh * s.W + ow * s.sw);
    ThreadScratch<I> scratch(std::is_same_v<I, std::int64_t> ? 0 : std::size_t(windows));
    parallel_for(std::size_t(s.planes), [&](std::size_t p) {
      std::int64_t* ap = argmax + std::int64_t(p) * windows;
      I* where;
      if constexpr (std::is_same_v<I, std::int64_t>) where = ap;
      else where = scratch.mine();
      max_pool_plane_unpadded(y + std::int64_t(p) * windows, where, x + std::int64_t(p) * s.H * s.W, start.data(), s);
      if constexpr (!std::is_same_v<I, std::int64_t>) std::copy(where, where + windows, ap);
    }, std::size_t(s.cost()));
    return;
  }
  parallel_for(std::size_t(s.planes), [&](std::size_t p) {
    max_pool_plane(y + std::int64_t(p) * windows, argmax + std::int64_t(p) * windows, x + std::int64_t(p) * s.H * s.W, s);
  }, std::size_t(s.cost()));
}

// dx is (planes, H, W), accumulated; dy and argmax are (planes, OH, OW).
// dx[argmax] += dy: overlapping windows that share a maximum both add their gradient to it.
template <class T>
void max_pool2d_backward(T* dx, const T* dy, const std::int64_t* argmax, const PoolShape& s) {
  const std::int64_t out = s.OH * s.OW;
  parallel_for(std::size_t(s.planes), [&](std::size_t p) {
    T* dxp = dx + std::int64_t(p) * s.H * s.W;
    const T* dyp = dy + std::int64_t(p) * out;
    const std::int64_t* ap = argmax + std::int64_t(p) * out;
    for (std::int64_t o = 0; o < out; ++o) dxp[ap[o]] += dyp[o];
  }, std::size_t(out));
}

// ẏ is (planes, OH, OW), ẋ is (planes, H, W): ẏ = ẋ[argmax].
template <class T>
void max_pool2d_jvp(T* ty, const T* tx, const std::int64_t* argmax, const PoolShape& s) {
  const std::int64_t out = s.OH * s.OW;
  parallel_for(std::size_t(s.planes), [&](std::size_t p) {
    const T* txp = tx + std::int64_t(p) * s.H * s.W;
    for (std::int64_t o = std::int64_t(p) * out; o < std::int64_t(p + 1) * out; ++o) ty[o] = txp[argmax[o]];
  }, std::size_t(out));
}

// ---- avg: forward, backward ----------------------------------------------------------------------

std::int64_t divisor(const Window& win, bool count_include_pad) {
  return count_include_pad ? win.padded_area : (win.h1 - win.h0) * (win.w1 - win.w0);
}

// y is (planes, OH, OW), x is (planes, H, W): y = (Σ window) / count.
template <class T>
void avg_pool2d_forward(T* y, const T* x, const PoolShape& s, bool count_include_pad) {
  parallel_for(std::size_t(s.planes), [&](std::size_t p) {
    const T* xp = x + std::int64_t(p) * s.H * s.W;
    T* yp = y + std::int64_t(p) * s.OH * s.OW;
    for (std::int64_t oh = 0; oh < s.OH; ++oh)
      for (std::int64_t ow = 0; ow < s.OW; ++ow) {
        const Window win = window_at(s, oh, ow);
        T sum = 0;
        for (std::int64_t ih = win.h0; ih < win.h1; ++ih)
          for (std::int64_t iw = win.w0; iw < win.w1; ++iw) sum += xp[ih * s.W + iw];
        yp[oh * s.OW + ow] = sum / T(divisor(win, count_include_pad));
      }
  }, std::size_t(s.cost()));
}

// dx is (planes, H, W), accumulated; dy is (planes, OH, OW): every element of a window gets
// dy / count, added (windows overlap).
template <class T>
void avg_pool2d_backward(T* dx, const T* dy, const PoolShape& s, bool count_include_pad) {
  parallel_for(std::size_t(s.planes), [&](std::size_t p) {
    T* dxp = dx + std::int64_t(p) * s.H * s.W;
    const T* dyp = dy + std::int64_t(p) * s.OH * s.OW;
    for (std::int64_t oh = 0; oh < s.OH; ++oh)
      for (std::int64_t ow = 0; ow < s.OW; ++ow) {
        const Window win = window_at(s, oh, ow);
        const T share = dyp[oh * s.OW + ow] / T(divisor(win, count_include_pad));
        for (std::int64_t ih = win.h0; ih < win.h1; ++ih)
          for (std::int64_t iw = win.w0; iw < win.w1; ++iw) dxp[ih * s.W + iw] += share;
      }
  }, std::size_t(s.cost()));
}

}  // namespace

// ---- Pool2dGate --------------------------------------------------------------------------------------

Pool2dGate::Pool2dGate(const char* who, Pair kernel, Pair stride, Pair padding) {
  spec_.kernel = kernel, spec_.stride = stride, spec_.padding = padding;
  if (kernel.h < 1 || kernel.w < 1)
    fail<ValueError>(who, ": kernel_size must be >= 1, got ", pair_value(kernel, 2),
                     " (a window covers at least one element)");
  check_window_params(who, spec_);
  if (padding.h > kernel.h / 2 || padding.w > kernel.w / 2)
    fail<ValueError>(who, ": ", pair_param("padding", padding, 2), " is more than half of ",
                     pair_param("kernel_size", kernel, 2), "; use ", pair_param("padding", {kernel.h / 2, kernel.w / 2}, 2),
                     " or less (padding <= kernel_size/2 keeps a real element in every window, PyTorch's rule)");
}

std::vector<std::string> Pool2dGate::params() const {
  std::vector<std::string> parts{pair_param("kernel_size", spec_.kernel, 2)};
  if (!(spec_.stride == spec_.kernel)) parts.push_back(pair_param("stride", spec_.stride, 2));
  if (!(spec_.padding == Pair{0, 0})) parts.push_back(pair_param("padding", spec_.padding, 2));
  return parts;
}

// x is (N,C,H,W) with N, C >= 1 and a window that fits; y is (N,C,OH,OW).
std::optional<TensorSpec> Pool2dGate::check(const std::vector<TensorSpec>& in) const {
  expect_inputs(in, 1);
  const DType dtype = common_float_dtype(in);
  const std::string who = name();
  const Shape& x = in[0].shape;
  if (x.size() != 4)
    fail<ValueError>(who, ": x has shape ", shape_str(x), " (", x.size(), "-D); ", who,
                     " takes x as (N, C, H, W), 4-D", x.size() == 3 ? " (for a single image use x[None])" : "");
  if (x[0] == 0)
    fail<ValueError>(who, ": x has shape ", shape_str(x), ": the batch is empty (N = 0); pass at least one image");
  if (x[1] == 0) fail<ValueError>(who, ": x has shape ", shape_str(x), ": it has no channels (C = 0)");
  const Pair out = window_output_size(who, {std::int64_t(x[2]), std::int64_t(x[3])}, spec_, false, "pool window");
  return TensorSpec{dtype, {x[0], x[1], std::size_t(out.h), std::size_t(out.w)}};
}

// ---- MaxPool2dGate ---------------------------------------------------------------------------------

MaxPool2dGate::MaxPool2dGate(Pair kernel, Pair stride, Pair padding)
    : Pool2dGate("max_pool2d", kernel, stride, padding) {}

std::string MaxPool2dGate::describe() const { return with_params(name(), params()); }

std::unique_ptr<Gate> MaxPool2dGate::clone() const {
  return std::make_unique<MaxPool2dGate>(spec_.kernel, spec_.stride, spec_.padding);
}

void MaxPool2dGate::forward(Tensor& out, const Inputs& in) {
  const TensorSpec spec = checked_spec(*this, in);
  ensure_tensor(out, spec.dtype, spec.shape);
  ensure_tensor(argmax_, DType::int64, spec.shape);
  const PoolShape s = pool_shape(in[0].shape(), spec.shape, spec_);
  dispatch_float(spec.dtype, name(), [&](auto tag) {
    using T = decltype(tag);
    max_pool2d_forward(out.data<T>(), argmax_.data<std::int64_t>(), in[0].data<T>(), s);
  });
}

// Backward and jvp use the argmax of the forward pass that produced `out`; a gate that never ran
// forward on these inputs (a cloned graph, say) recomputes it.
const Tensor& MaxPool2dGate::argmax_for(const Inputs& in, const Tensor& out) {
  if (argmax_.defined() && argmax_.shape() == out.shape()) return argmax_;
  Tensor scratch;
  forward(scratch, in);
  return argmax_;
}

void MaxPool2dGate::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  if (!din[0]) return;
  const Tensor& argmax = argmax_for(in, out);
  const PoolShape s = pool_shape(in[0].shape(), out.shape(), spec_);
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    max_pool2d_backward(din[0]->data<T>(), dout.data<T>(), argmax.data<std::int64_t>(), s);
  });
}

void MaxPool2dGate::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  ensure_tensor(tangent_out, out.dtype(), out.shape());
  if (!tangent_in[0]) return tangent_out.fill_zero();
  const Tensor& argmax = argmax_for(in, out);
  const PoolShape s = pool_shape(in[0].shape(), out.shape(), spec_);
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    max_pool2d_jvp(tangent_out.data<T>(), tangent_in[0]->data<T>(), argmax.data<std::int64_t>(), s);
  });
}

// ---- AvgPool2dGate ---------------------------------------------------------------------------------

AvgPool2dGate::AvgPool2dGate(Pair kernel, Pair stride, Pair padding, bool count_include_pad)
    : Pool2dGate("avg_pool2d", kernel, stride, padding), count_include_pad_(count_include_pad) {}

std::string AvgPool2dGate::describe() const {
  std::vector<std::string> parts = params();
  if (!count_include_pad_) parts.push_back("count_include_pad=False");
  return with_params(name(), parts);
}

std::unique_ptr<Gate> AvgPool2dGate::clone() const {
  return std::make_unique<AvgPool2dGate>(spec_.kernel, spec_.stride, spec_.padding, count_include_pad_);
}

void AvgPool2dGate::forward(Tensor& out, const Inputs& in) {
  const TensorSpec spec = checked_spec(*this, in);
  ensure_tensor(out, spec.dtype, spec.shape);
  const PoolShape s = pool_shape(in[0].shape(), spec.shape, spec_);
  dispatch_float(spec.dtype, name(), [&](auto tag) {
    using T = decltype(tag);
    avg_pool2d_forward(out.data<T>(), in[0].data<T>(), s, count_include_pad_);
  });
}

void AvgPool2dGate::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  if (!din[0]) return;
  const PoolShape s = pool_shape(in[0].shape(), out.shape(), spec_);
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    avg_pool2d_backward(din[0]->data<T>(), dout.data<T>(), s, count_include_pad_);
  });
}

void AvgPool2dGate::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  ensure_tensor(tangent_out, out.dtype(), out.shape());
  if (!tangent_in[0]) return tangent_out.fill_zero();
  const PoolShape s = pool_shape(in[0].shape(), out.shape(), spec_);
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    avg_pool2d_forward(tangent_out.data<T>(), tangent_in[0]->data<T>(), s, count_include_pad_);
  });
}

}  // namespace gatelab
