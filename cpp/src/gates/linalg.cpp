#include "gatelab/gates/linalg.hpp"

#include <algorithm>
#include <cstring>

#include "gatelab/blas.hpp"
#include "gatelab/broadcast.hpp"
#include "gatelab/parallel.hpp"

namespace gatelab {

namespace {

// f(i) for every batch i: in parallel when each i writes its own memory (`independent`), else
// serially in increasing i, so gradients summed over a stretched batch add in a fixed order.
template <class F>
void for_batches(std::size_t batch, bool independent, std::size_t cost_per_batch, F&& f) {
  if (independent) {
    parallel_for(batch, f, cost_per_batch);
  } else {
    for (std::size_t i = 0; i < batch; ++i) f(i);
  }
}

std::string batch_str(const Shape& shape, std::size_t keep) {
  return shape_str(Shape(shape.begin(), shape.end() - static_cast<std::ptrdiff_t>(keep)));
}

}  // namespace

// ---- matmul -------------------------------------------------------------------------------

MatMulPlan matmul_plan(const Shape& a, const Shape& b) {
  if (a.empty() || b.empty())
    fail<ValueError>("matmul: ", a.empty() ? "A" : "B", " is a scalar (shape ()); matmul needs arrays with at ",
                     "least one dimension. To scale by a number use *");
  // Rule 2: promote 1-D operands to matrices.
  const Shape a2 = a.size() == 1 ? Shape{1, a[0]} : a;
  const Shape b2 = b.size() == 1 ? Shape{b[0], 1} : b;
  MatMulPlan p;
  p.m = a2[a2.size() - 2];
  p.k = a2[a2.size() - 1];
  p.n = b2[b2.size() - 1];
  const std::size_t kb = b2[b2.size() - 2];
  if (p.k != kb)
    fail<ValueError>("matmul: A ", shape_str(a), " @ B ", shape_str(b), ": A's last dimension (", p.k,
                     ") must equal B's ", b.size() == 1 ? "only" : "second-to-last", " dimension (", kb,
                     "); (m, k) @ (k, n) -> (m, n)");
  // Rule 4: batch dimensions broadcast.
  const Shape ab(a2.begin(), a2.end() - 2), bb(b2.begin(), b2.end() - 2);
  for (std::size_t j = 0; j < std::min(ab.size(), bb.size()); ++j) {
    std::size_t da = ab[ab.size() - 1 - j], db = bb[bb.size() - 1 - j];
    if (da != db && da != 1 && db != 1)
      fail<ValueError>("matmul: the batch dimensions ", batch_str(a2, 2), " of A ", shape_str(a), " and ",
                       batch_str(b2, 2), " of B ", shape_str(b), " do not broadcast (", da, " vs ", db,
                       "; aligned at the right, sizes must match or one be 1)");
  }
  BroadcastPlan bp = broadcast_plan("matmul", ab, bb);
  p.batch = bp.out_size;
  p.a_index.resize(p.batch);
  p.b_index.resize(p.batch);
  for_each_broadcast(bp, true, [&](std::size_t i, std::size_t ia, std::size_t ib) {
    p.a_index[i] = ia;
    p.b_index[i] = ib;
  });
  p.a_unique = shape_numel(ab) == p.batch;
  p.b_unique = shape_numel(bb) == p.batch;
  p.out_shape = bp.out_shape;
  if (a.size() > 1) p.out_shape.push_back(p.m);
  if (b.size() > 1) p.out_shape.push_back(p.n);
  // One B for every batch of A, which are stored one after the other: the batches stack into a
  // single (batch·m, k) @ (k, n) product, one GEMM instead of `batch` small ones.
  if (shape_numel(bb) == 1 && p.a_unique && p.batch > 1) {
    p.fold_a = true;
    p.m *= p.batch;
    p.batch = 1;
    p.a_index.assign(1, 0);
    p.b_index.assign(1, 0);
  }
  return p;
}

std::optional<TensorSpec> MatMulGate::check(const std::vector<TensorSpec>& in) const {
  expect_inputs(in, 2);
  DType dtype = common_float_dtype(in);
  return TensorSpec{dtype, matmul_plan(in[0].shape, in[1].shape).out_shape};
}

// A is (..., m, k), B is (..., k, n), Y is (broadcast batch, m, n): Y_i = A_{a(i)} · B_{b(i)}.
void MatMulGate::forward(Tensor& out, const Inputs& in) {
  TensorSpec spec = checked_spec(*this, in);
  ensure_tensor(out, spec.dtype, spec.shape);
  const MatMulPlan p = matmul_plan(in[0].shape(), in[1].shape());
  dispatch_float(spec.dtype, name(), [&](auto tag) {
    using T = decltype(tag);
    const T* a = in[0].data<T>();
    const T* b = in[1].data<T>();
    T* y = out.data<T>();
    const std::size_t sa = p.m * p.k, sb = p.k * p.n, sy = p.m * p.n;
    for_batches(p.batch, true, p.m * p.n * p.k, [&](std::size_t i) {
      gemm(y + i * sy, a + p.a_index[i] * sa, b + p.b_index[i] * sb, p.m, p.n, p.k, GemmOp{});
    });
  });
}

// dA_{a(i)} += dY_i · B_{b(i)}ᵀ,  dB_{b(i)} += A_{a(i)}ᵀ · dY_i  (GEMMs with beta = 1).
void MatMulGate::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  const MatMulPlan p = matmul_plan(in[0].shape(), in[1].shape());
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const T* a = in[0].data<T>();
    const T* b = in[1].data<T>();
    const T* dy = dout.data<T>();
    const std::size_t sa = p.m * p.k, sb = p.k * p.n, sy = p.m * p.n, cost = p.m * p.n * p.k;
    if (din[0]) {
      T* da = din[0]->data<T>();
      for_batches(p.batch, p.a_unique, cost, [&](std::size_t i) {
        gemm(da + p.a_index[i] * sa, dy + i * sy, b + p.b_index[i] * sb, p.m, p.k, p.n, GemmOp{false, true}, T(1),
             T(1));
      });
    }
    if (din[1]) {
      T* db = din[1]->data<T>();
      for_batches(p.batch, p.b_unique, cost, [&](std::size_t i) {
        gemm(db + p.b_index[i] * sb, a + p.a_index[i] * sa, dy + i * sy, p.k, p.n, p.m, GemmOp{true, false}, T(1),
             T(1));
      });
    }
  });
}

// Bilinear: Ẏ_i = Ȧ_{a(i)} · B_{b(i)} + A_{a(i)} · Ḃ_{b(i)}.
void MatMulGate::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  ensure_tensor(tangent_out, out.dtype(), out.shape());
  const MatMulPlan p = matmul_plan(in[0].shape(), in[1].shape());
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const T* a = in[0].data<T>();
    const T* b = in[1].data<T>();
    const T* ta = tangent_in[0] ? tangent_in[0]->data<T>() : nullptr;
    const T* tb = tangent_in[1] ? tangent_in[1]->data<T>() : nullptr;
    T* ty = tangent_out.data<T>();
    const std::size_t sa = p.m * p.k, sb = p.k * p.n, sy = p.m * p.n;
    for_batches(p.batch, true, 2 * p.m * p.n * p.k, [&](std::size_t i) {
      T* t = ty + i * sy;
      if (!ta && !tb) std::fill_n(t, sy, T(0));
      if (ta) gemm(t, ta + p.a_index[i] * sa, b + p.b_index[i] * sb, p.m, p.n, p.k, GemmOp{});
      if (tb) gemm(t, a + p.a_index[i] * sa, tb + p.b_index[i] * sb, p.m, p.n, p.k, GemmOp{}, T(1), T(ta ? 1 : 0));
    });
  });
}

// ---- affine -------------------------------------------------------------------------------

std::optional<TensorSpec> AffineGate::check(const std::vector<TensorSpec>& in) const {
  expect_inputs(in, 3);
  DType dtype = common_float_dtype(in);
  const Shape &x = in[0].shape, &w = in[1].shape, &b = in[2].shape;
  if (x.size() < 2)
    fail<ValueError>("affine: x must be (N, d1, ..., dk) with a batch dimension first, got shape ", shape_str(x),
                     "; for a single example pass x[None, :]");
  if (w.size() != 2) fail<ValueError>("affine: w must be 2-D (D, M), got shape ", shape_str(w));
  if (b.size() != 1) fail<ValueError>("affine: b must be 1-D (M,), got shape ", shape_str(b));
  const std::size_t n = x[0], d_rows = shape_numel(Shape(x.begin() + 1, x.end()));
  if (d_rows != w[0])
    fail<ValueError>("affine: x ", shape_str(x), " reshapes to (", n, ", ", d_rows, ") but w is ", shape_str(w),
                     "; w needs ", d_rows, " rows, one per input feature (D = d1·...·dk)");
  if (b[0] != w[1])
    fail<ValueError>("affine: b has shape ", shape_str(b), " but w ", shape_str(w), " has ", w[1],
                     " columns; b needs one entry per output: (", w[1], ",)");
  return TensorSpec{dtype, Shape{n, w[1]}};
}

// x₂ is (N, D), w is (D, M), b is (M,), y is (N, M): y = x₂ · w + b. The bias is copied into
// every row first and the GEMM adds onto it (beta = 1), so bias and product are one pass.
void AffineGate::forward(Tensor& out, const Inputs& in) {
  TensorSpec spec = checked_spec(*this, in);
  ensure_tensor(out, spec.dtype, spec.shape);
  const std::size_t n = spec.shape[0], m = spec.shape[1], d = in[1].shape()[0];
  dispatch_float(spec.dtype, name(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].data<T>();
    const T* w = in[1].data<T>();
    const T* b = in[2].data<T>();
    T* y = out.data<T>();
    for (std::size_t r = 0; r < n; ++r) std::copy_n(b, m, y + r * m);
    gemm(y, x, w, n, m, d, GemmOp{}, T(1), T(1));
  });
}

// dx₂ += dy · wᵀ,  dw += x₂ᵀ · dy,  db += Σ_n dy[n, :] (rows added in order, in double).
void AffineGate::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  const std::size_t n = out.shape()[0], m = out.shape()[1], d = in[1].shape()[0];
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].data<T>();
    const T* w = in[1].data<T>();
    const T* dy = dout.data<T>();
    if (din[0]) gemm(din[0]->data<T>(), dy, w, n, d, m, GemmOp{false, true}, T(1), T(1));
    if (din[1]) gemm(din[1]->data<T>(), x, dy, d, m, n, GemmOp{true, false}, T(1), T(1));
    if (din[2]) {
      std::vector<double> acc(m, 0.0);
      for (std::size_t r = 0; r < n; ++r)
        for (std::size_t j = 0; j < m; ++j) acc[j] += dy[r * m + j];
      T* db = din[2]->data<T>();
      for (std::size_t j = 0; j < m; ++j) db[j] += static_cast<T>(acc[j]);
    }
  });
}

// ẏ = ẋ₂ · w + x₂ · ẇ + ḃ
void AffineGate::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  ensure_tensor(tangent_out, out.dtype(), out.shape());
  const std::size_t n = out.shape()[0], m = out.shape()[1], d = in[1].shape()[0];
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    T* ty = tangent_out.data<T>();
    if (tangent_in[2]) {
      const T* tb = tangent_in[2]->data<T>();
      for (std::size_t r = 0; r < n; ++r) std::copy_n(tb, m, ty + r * m);
    } else {
      std::fill_n(ty, n * m, T(0));
    }
    if (tangent_in[0]) gemm(ty, tangent_in[0]->data<T>(), in[1].data<T>(), n, m, d, GemmOp{}, T(1), T(1));
    if (tangent_in[1]) gemm(ty, in[0].data<T>(), tangent_in[1]->data<T>(), n, m, d, GemmOp{}, T(1), T(1));
  });
}

// ---- transpose ----------------------------------------------------------------------------

namespace {

// Visits every element of y = x.transpose(perm): f(index in y, index in x). Parallel over y's
// first dimension; each (y, x) pair is visited once, so writes through either index are
// independent.
template <class F>
void for_each_permuted(const Shape& x_shape, const std::vector<std::size_t>& perm, F&& f) {
  const std::size_t rank = x_shape.size();
  const std::size_t total = shape_numel(x_shape);
  if (total == 0) return;
  if (rank == 0) return f(std::size_t{0}, std::size_t{0});
  std::vector<std::size_t> x_strides(rank, 1), dims(rank), strides(rank);
  for (std::size_t d = rank - 1; d-- > 0;) x_strides[d] = x_strides[d + 1] * x_shape[d + 1];
  for (std::size_t d = 0; d < rank; ++d) {
    dims[d] = x_shape[perm[d]];     // y's dimension d ...
    strides[d] = x_strides[perm[d]];  // ... steps through x with this stride
  }
  const std::size_t inner = total / dims[0];
  parallel_for(dims[0], [&](std::size_t row) {
    std::vector<std::size_t> idx(rank, 0);
    std::size_t ix = row * strides[0];
    for (std::size_t j = 0, iy = row * inner; j < inner; ++j, ++iy) {
      f(iy, ix);
      for (std::size_t d = rank; d-- > 1;) {  // odometer over y's dimensions 1..rank-1
        ix += strides[d];
        if (++idx[d] < dims[d]) break;
        ix -= strides[d] * dims[d];
        idx[d] = 0;
      }
    }
  }, inner);
}

}  // namespace

std::string TransposeGate::describe() const {
  if (axes_.empty()) return name();
  std::string s = "transpose(axes=(";
  for (std::size_t i = 0; i < axes_.size(); ++i) s += (i ? ", " : "") + std::to_string(axes_[i]);
  return s + (axes_.size() == 1 ? ",))" : "))");
}

std::vector<std::size_t> TransposeGate::permutation(std::size_t ndim) const {
  std::vector<std::size_t> perm(ndim);
  if (axes_.empty()) {
    for (std::size_t d = 0; d < ndim; ++d) perm[d] = ndim - 1 - d;
    return perm;
  }
  if (axes_.size() != ndim)
    fail<ValueError>("transpose: ", describe(), " gives ", axes_.size(), " axes for an input of rank ", ndim,
                     "; give one axis per dimension (a permutation of 0..", ndim ? ndim - 1 : 0, ")");
  std::vector<bool> seen(ndim, false);
  for (std::size_t d = 0; d < ndim; ++d) {
    int a = axes_[d] < 0 ? axes_[d] + static_cast<int>(ndim) : axes_[d];
    if (a < 0 || a >= static_cast<int>(ndim))
      fail<ValueError>("transpose: axis ", axes_[d], " is out of range for an input of rank ", ndim);
    if (seen[a]) fail<ValueError>("transpose: axis ", axes_[d], " is repeated; axes must be a permutation");
    seen[a] = true;
    perm[d] = static_cast<std::size_t>(a);
  }
  return perm;
}

std::optional<TensorSpec> TransposeGate::check(const std::vector<TensorSpec>& in) const {
  expect_inputs(in, 1);
  DType dtype = common_float_dtype(in);
  std::vector<std::size_t> perm = permutation(in[0].shape.size());
  Shape out(perm.size());
  for (std::size_t d = 0; d < perm.size(); ++d) out[d] = in[0].shape[perm[d]];
  return TensorSpec{dtype, out};
}

// y[i_0, ..., i_r] = x at the index whose dimension perm[d] is i_d.
void TransposeGate::forward(Tensor& out, const Inputs& in) {
  TensorSpec spec = checked_spec(*this, in);
  ensure_tensor(out, spec.dtype, spec.shape);
  const std::vector<std::size_t> perm = permutation(in[0].ndim());
  dispatch_float(spec.dtype, name(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].data<T>();
    T* y = out.data<T>();
    for_each_permuted(in[0].shape(), perm, [&](std::size_t iy, std::size_t ix) { y[iy] = x[ix]; });
  });
}

// dx += dy permuted back (each element of x receives exactly one element of dy).
void TransposeGate::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  if (!din[0]) return;
  const std::vector<std::size_t> perm = permutation(in[0].ndim());
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const T* dy = dout.data<T>();
    T* dx = din[0]->data<T>();
    for_each_permuted(in[0].shape(), perm, [&](std::size_t iy, std::size_t ix) { dx[ix] += dy[iy]; });
  });
}

// Linear: ẏ is ẋ transposed the same way.
void TransposeGate::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  ensure_tensor(tangent_out, out.dtype(), out.shape());
  if (!tangent_in[0]) return tangent_out.fill_zero();
  const std::vector<std::size_t> perm = permutation(in[0].ndim());
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const T* tx = tangent_in[0]->data<T>();
    T* ty = tangent_out.data<T>();
    for_each_permuted(in[0].shape(), perm, [&](std::size_t iy, std::size_t ix) { ty[iy] = tx[ix]; });
  });
}

}  // namespace gatelab
