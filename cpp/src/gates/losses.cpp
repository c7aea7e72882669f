#include "gatelab/gates/losses.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>

#include "gatelab/parallel.hpp"

namespace gatelab {

namespace {

// Σ_{i<n} term(i) in double, in a fixed order: blocks of a fixed size (chosen from the cost, not
// the thread count) are summed in parallel, then the block sums are added in order.
template <class F>
double ordered_sum(std::size_t n, std::size_t cost_per_item, F&& term) {
  const std::size_t block = std::max<std::size_t>(1, kParallelGrain / std::max<std::size_t>(1, cost_per_item));
  const std::size_t blocks = (n + block - 1) / block;
  std::vector<double> partial(blocks, 0.0);
  parallel_for(blocks, [&](std::size_t k) {
    double s = 0.0;
    for (std::size_t i = k * block, e = std::min(n, (k + 1) * block); i < e; ++i) s += term(i);
    partial[k] = s;
  }, block * cost_per_item);
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

// The single value of a loss's upstream gradient (a loss is a scalar).
template <class T>
double scalar_of(const Tensor& dout) {
  return static_cast<double>(dout.data<T>()[0]);
}

// Forward mode for a scalar loss L: L̇ = Σ_i ⟨∂L/∂in_i, ṫ_i⟩, with the gradients taken from the
// gate's own backward pass (seeded with 1), so the jvp and the backward rule cannot disagree.
void loss_jvp(Gate& gate, Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  ensure_tensor(tangent_out, out.dtype(), out.shape());
  std::vector<Tensor> grads(in.size());
  InputGrads din(in.size(), nullptr);
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (!tangent_in[i] || !gate.differentiable(i)) continue;
    grads[i] = Tensor::zeros(out.dtype(), in[i].shape());
    din[i] = &grads[i];
  }
  gate.backward(din, Tensor::full(out.dtype(), out.shape(), 1.0), in, out);
  dispatch_float(out.dtype(), gate.name(), [&](auto tag) {
    using T = decltype(tag);
    double total = 0.0;
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (!din[i]) continue;
      const T* g = grads[i].data<T>();
      const T* v = tangent_in[i]->data<T>();
      total += ordered_sum(grads[i].size(), 1, [&](std::size_t j) { return double(g[j]) * v[j]; });
    }
    tangent_out.data<T>()[0] = static_cast<T>(total);
  });
}

}  // namespace

// ---- softmax and log_softmax --------------------------------------------------------------

namespace {

// The input seen as `rows` independent rows of n elements along the softmax axis: element j of
// row r is at base(r) + j·stride, with stride = the product of the dimensions after the axis.
struct AxisRows {
  std::size_t rows = 0, n = 0, stride = 1;
  std::size_t base(std::size_t r) const { return (r / stride) * n * stride + r % stride; }
};

AxisRows axis_rows(const std::string& who, const Shape& shape, int axis) {
  const int rank = static_cast<int>(shape.size());
  const int a = axis < 0 ? axis + rank : axis;
  if (rank == 0) fail<ValueError>(who, ": x is a scalar (shape ()); softmax needs at least one dimension");
  if (a < 0 || a >= rank) fail<ValueError>(who, ": axis ", axis, " is out of range for x of shape ", shape_str(shape));
  AxisRows r;
  r.n = shape[a];
  for (int d = a + 1; d < rank; ++d) r.stride *= shape[d];
  r.rows = r.n ? shape_numel(shape) / r.n : 0;
  return r;
}

// y = softmax(x) or log_softmax(x) along one row, stable: e^(x − max) never overflows. A NaN
// never becomes the max; it reaches the sum, so the whole row turns NaN, as in PyTorch.
template <SoftmaxKind Kind, class T>
void softmax_row(T* y, const T* x, std::size_t n, std::size_t stride) {
  double m = -std::numeric_limits<double>::infinity();
  for (std::size_t j = 0; j < n; ++j) m = std::max(m, static_cast<double>(x[j * stride]));
  double sum = 0.0;
  for (std::size_t j = 0; j < n; ++j) sum += std::exp(x[j * stride] - m);
  if (Kind == SoftmaxKind::softmax) {
    for (std::size_t j = 0; j < n; ++j) y[j * stride] = static_cast<T>(std::exp(x[j * stride] - m) / sum);
  } else {
    const double lse = std::log(sum);
    for (std::size_t j = 0; j < n; ++j) y[j * stride] = static_cast<T>(x[j * stride] - m - lse);
  }
}

}  // namespace

template <SoftmaxKind Kind>
std::string SoftmaxGate<Kind>::describe() const {
  return axis_ == -1 ? name() : name() + "(axis=" + std::to_string(axis_) + ")";
}

template <SoftmaxKind Kind>
std::optional<TensorSpec> SoftmaxGate<Kind>::check(const std::vector<TensorSpec>& in) const {
  expect_inputs(in, 1);
  DType dtype = common_float_dtype(in);
  axis_rows(name(), in[0].shape, axis_);
  return TensorSpec{dtype, in[0].shape};
}

// x is any shape; each row along `axis` is normalized independently (parallel over rows).
template <SoftmaxKind Kind>
void SoftmaxGate<Kind>::forward(Tensor& out, const Inputs& in) {
  TensorSpec spec = checked_spec(*this, in);
  ensure_tensor(out, spec.dtype, spec.shape);
  const AxisRows r = axis_rows(name(), spec.shape, axis_);
  dispatch_float(spec.dtype, name(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].data<T>();
    T* y = out.data<T>();
    parallel_for(r.rows, [&](std::size_t i) {
      softmax_row<Kind>(y + r.base(i), x + r.base(i), r.n, r.stride);
    }, 4 * r.n);
  });
}

// softmax:     dx = y ⊙ (dy − ⟨dy, y⟩)         (the Jacobian diag(y) − y yᵀ applied to dy)
// log_softmax: dx = dy − softmax(x) · Σ dy      (softmax(x) = e^y)
template <SoftmaxKind Kind>
void SoftmaxGate<Kind>::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  if (!din[0]) return;
  const AxisRows r = axis_rows(name(), out.shape(), axis_);
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    parallel_for(r.rows, [&](std::size_t i) {
      const std::size_t b = r.base(i), s = r.stride;
      const T* y = out.data<T>() + b;
      const T* dy = dout.data<T>() + b;
      T* dx = din[0]->data<T>() + b;
      double acc = 0.0;
      for (std::size_t j = 0; j < r.n; ++j) acc += Kind == SoftmaxKind::softmax ? double(dy[j * s]) * y[j * s] : dy[j * s];
      for (std::size_t j = 0; j < r.n; ++j) {
        if (Kind == SoftmaxKind::softmax) dx[j * s] += static_cast<T>(y[j * s] * (dy[j * s] - acc));
        else dx[j * s] += static_cast<T>(dy[j * s] - std::exp(double(y[j * s])) * acc);
      }
    }, 4 * r.n);
  });
}

// softmax:     ẏ = y ⊙ (v − ⟨y, v⟩)
// log_softmax: ẏ = v − ⟨softmax(x), v⟩
template <SoftmaxKind Kind>
void SoftmaxGate<Kind>::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  ensure_tensor(tangent_out, out.dtype(), out.shape());
  if (!tangent_in[0]) return tangent_out.fill_zero();
  const AxisRows r = axis_rows(name(), out.shape(), axis_);
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    parallel_for(r.rows, [&](std::size_t i) {
      const std::size_t b = r.base(i), s = r.stride;
      const T* y = out.data<T>() + b;
      const T* v = tangent_in[0]->data<T>() + b;
      T* ty = tangent_out.data<T>() + b;
      double dot = 0.0;
      for (std::size_t j = 0; j < r.n; ++j) {
        const double p = Kind == SoftmaxKind::softmax ? double(y[j * s]) : std::exp(double(y[j * s]));
        dot += p * v[j * s];
      }
      for (std::size_t j = 0; j < r.n; ++j) {
        if (Kind == SoftmaxKind::softmax) ty[j * s] = static_cast<T>(y[j * s] * (v[j * s] - dot));
        else ty[j * s] = static_cast<T>(v[j * s] - dot);
      }
    }, 4 * r.n);
  });
}

template class SoftmaxGate<SoftmaxKind::softmax>;
template class SoftmaxGate<SoftmaxKind::log_softmax>;

// ---- classification losses: scores (N, C) and int64 labels (N,) ---------------------------

std::optional<TensorSpec> ClassificationLossGate::check(const std::vector<TensorSpec>& in) const {
  expect_inputs(in, 2);
  const std::string who = name();
  const Shape &s = in[0].shape, &y = in[1].shape;
  if (is_float(in[1].dtype))
    fail<TypeError>(who, ": labels are ", dtype_name(in[1].dtype), "; labels are class indices 0..C-1, pass them ",
                    "as integers: y.astype(np.int64)");
  if (!is_float(in[0].dtype))
    fail<TypeError>(who, ": scores are ", dtype_name(in[0].dtype), "; scores must be float64 or float32 (pass ",
                    "scores.astype(np.float64))");
  if (s.size() != 2)
    fail<ValueError>(who, ": scores must be (N, C), one row of class scores per example, got shape ", shape_str(s),
                     s.size() == 1 ? "; for a single example pass scores[None, :] and [label]" : "");
  if (y.size() != 1 || y[0] != s[0])
    fail<ValueError>(who, ": labels have shape ", shape_str(y), " but scores ", shape_str(s), " have ", s[0],
                     " rows; give one label per row: shape (", s[0], ",)");
  if (s[0] == 0)
    fail<ValueError>(who, ": the batch is empty (scores ", shape_str(s), "); the mean loss over 0 examples is "
                     "undefined");
  if (s[1] == 0) fail<ValueError>(who, ": scores ", shape_str(s), " have 0 classes");
  return TensorSpec{in[0].dtype, Shape{}};
}

// Every label must name a class: the first one that does not is reported with its row.
std::pair<std::size_t, std::size_t> ClassificationLossGate::begin_forward(Tensor& out, const Inputs& in) const {
  TensorSpec spec = checked_spec(*this, in);
  const std::size_t n = in[0].shape()[0], c = in[0].shape()[1];
  const std::int64_t* y = in[1].data<std::int64_t>();
  for (std::size_t i = 0; i < n; ++i)
    if (y[i] < 0 || y[i] >= static_cast<std::int64_t>(c))
      fail<ValueError>(name(), ": label ", y[i], " in row ", i, " is out of range for ", c, " classes (labels are 0..",
                       c - 1, ")");
  ensure_tensor(out, spec.dtype, spec.shape);
  return {n, c};
}

// L̇ = ⟨∂L/∂s, ṡ⟩
void ClassificationLossGate::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  loss_jvp(*this, tangent_out, tangent_in, in, out);
}

// s is (N, C), y is (N,): probs_i = softmax(s_i); L = (1/N) Σ_i [log Σ_j e^(s_ij − m_i) − (s_iy − m_i)].
void SoftmaxCrossEntropyGate::forward(Tensor& out, const Inputs& in) {
  std::size_t n, c;
  std::tie(n, c) = begin_forward(out, in);
  ensure_tensor(probs_, out.dtype(), in[0].shape());
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = in[0].data<T>();
    const std::int64_t* y = in[1].data<std::int64_t>();
    T* p = probs_.data<T>();
    const double total = ordered_sum(n, 4 * c, [&](std::size_t i) {
      const T* si = s + i * c;
      double m = -std::numeric_limits<double>::infinity();
      for (std::size_t j = 0; j < c; ++j) m = std::max(m, static_cast<double>(si[j]));
      double sum = 0.0;
      for (std::size_t j = 0; j < c; ++j) sum += std::exp(si[j] - m);
      for (std::size_t j = 0; j < c; ++j) p[i * c + j] = static_cast<T>(std::exp(si[j] - m) / sum);
      return std::log(sum) - (si[y[i]] - m);
    });
    out.data<T>()[0] = static_cast<T>(total / double(n));
  });
}

// ds_ij += dL · (probs_ij − [j = y_i]) / N
void SoftmaxCrossEntropyGate::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  if (!din[0]) return;
  if (probs_.shape() != in[0].shape()) fail<ValueError>(name(), ": backward before forward; run forward first");
  const std::size_t n = in[0].shape()[0], c = in[0].shape()[1];
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const double g = scalar_of<T>(dout) / double(n);
    const T* p = probs_.data<T>();
    const std::int64_t* y = in[1].data<std::int64_t>();
    T* ds = din[0]->data<T>();
    parallel_for(n, [&](std::size_t i) {
      for (std::size_t j = 0; j < c; ++j)
        ds[i * c + j] += static_cast<T>(g * (double(p[i * c + j]) - (static_cast<std::int64_t>(j) == y[i] ? 1.0 : 0.0)));
    }, c);
  });
}

// ---- svm loss -----------------------------------------------------------------------------

namespace {

// margin_ij = s_ij − s_iy + Δ for j ≠ y; counted (in the loss and the gradient) when > 0.
// A NaN margin is not > 0, so it is skipped, exactly as PyTorch's multi_margin_loss does.
template <class T, class F>
void for_each_active_margin(const T* si, std::int64_t yi, std::size_t c, double delta, F&& f) {
  const double sy = si[yi];
  for (std::size_t j = 0; j < c; ++j) {
    if (static_cast<std::int64_t>(j) == yi) continue;
    const double z = si[j] - sy + delta;
    if (z > 0) f(j, z);
  }
}

}  // namespace

std::string SvmLossGate::describe() const { return margin_ == 1.0 ? name() : name() + "(margin=" + std::to_string(margin_) + ")"; }

// s is (N, C), y is (N,): L = (1/N) Σ_i Σ_{j≠y_i} max(0, s_ij − s_iy_i + Δ)
void SvmLossGate::forward(Tensor& out, const Inputs& in) {
  std::size_t n, c;
  std::tie(n, c) = begin_forward(out, in);
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = in[0].data<T>();
    const std::int64_t* y = in[1].data<std::int64_t>();
    const double total = ordered_sum(n, c, [&](std::size_t i) {
      double row = 0.0;
      for_each_active_margin(s + i * c, y[i], c, margin_, [&](std::size_t, double z) { row += z; });
      return row;
    });
    out.data<T>()[0] = static_cast<T>(total / double(n));
  });
}

// Each active margin pushes its class up (+1/N) and the true class down (−1/N).
void SvmLossGate::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  if (!din[0]) return;
  const std::size_t n = in[0].shape()[0], c = in[0].shape()[1];
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const T g = static_cast<T>(scalar_of<T>(dout) / double(n));
    const T* s = in[0].data<T>();
    const std::int64_t* y = in[1].data<std::int64_t>();
    T* ds = din[0]->data<T>();
    parallel_for(n, [&](std::size_t i) {
      std::size_t active = 0;
      for_each_active_margin(s + i * c, y[i], c, margin_, [&](std::size_t j, double) {
        ds[i * c + j] += g;
        ++active;
      });
      ds[i * c + y[i]] -= g * static_cast<T>(active);
    }, c);
  });
}

// ---- element-wise mean losses: mse, bce with logits ---------------------------------------

double BceWithLogitsRule::f(double x, double t) { return std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::abs(x))); }

// σ(x) − t, with σ computed from e^−|x| so it never overflows.
double BceWithLogitsRule::da(double x, double t) {
  const double e = std::exp(-std::abs(x));
  const double sigma = x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
  return sigma - t;
}

template <class Rule>
std::optional<TensorSpec> MeanLossGate<Rule>::check(const std::vector<TensorSpec>& in) const {
  expect_inputs(in, 2);
  DType dtype = common_float_dtype(in);
  if (in[0].shape != in[1].shape)
    fail<ValueError>(name(), ": input ", shape_str(in[0].shape), " and target ", shape_str(in[1].shape),
                     " must have the same shape (no broadcasting: a mismatch here is usually a bug)");
  if (shape_numel(in[0].shape) == 0)
    fail<ValueError>(name(), ": the inputs are empty ", shape_str(in[0].shape), "; the mean over 0 elements is undefined");
  return TensorSpec{dtype, Shape{}};
}

// a and b are any shape (the same): L = (1/n) Σ f(a, b).
template <class Rule>
void MeanLossGate<Rule>::forward(Tensor& out, const Inputs& in) {
  TensorSpec spec = checked_spec(*this, in);
  ensure_tensor(out, spec.dtype, spec.shape);
  const std::size_t n = in[0].size();
  dispatch_float(spec.dtype, name(), [&](auto tag) {
    using T = decltype(tag);
    const T* a = in[0].data<T>();
    const T* b = in[1].data<T>();
    out.data<T>()[0] = static_cast<T>(ordered_sum(n, 8, [&](std::size_t i) { return Rule::f(a[i], b[i]); }) / double(n));
  });
}

// da += dL · ∂f/∂a / n,  db += dL · ∂f/∂b / n
template <class Rule>
void MeanLossGate<Rule>::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  const std::size_t n = in[0].size();
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const double g = scalar_of<T>(dout) / double(n);
    const T* a = in[0].data<T>();
    const T* b = in[1].data<T>();
    if (din[0]) {
      T* da = din[0]->data<T>();
      parallel_for(n, [&](std::size_t i) { da[i] += static_cast<T>(g * Rule::da(a[i], b[i])); }, 8);
    }
    if (din[1]) {
      T* db = din[1]->data<T>();
      parallel_for(n, [&](std::size_t i) { db[i] += static_cast<T>(g * Rule::db(a[i], b[i])); }, 8);
    }
  });
}

template <class Rule>
void MeanLossGate<Rule>::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  loss_jvp(*this, tangent_out, tangent_in, in, out);
}

template class MeanLossGate<MseRule>;
template class MeanLossGate<BceWithLogitsRule>;

}  // namespace gatelab
