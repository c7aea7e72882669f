#include "gatelab/gradcheck.hpp"

#include "gatelab/latch.hpp"

#include <exception>
#include <memory>

#include "gatelab/parallel.hpp"

namespace gatelab {

namespace {

double element(const Tensor& t, std::size_t i) {
  return dispatch_float(t.dtype(), "gradcheck", [&](auto tag) -> double {
    using T = decltype(tag);
    return static_cast<double>(t.data<T>()[i]);
  });
}

// The tensor's values as doubles, into `out` (resized; no allocation once it has grown).
// out[0 .. t.size()) = the tensor's values as doubles (one dtype dispatch, then a plain loop).
void write_as_double(double* out, const Tensor& t) {
  dispatch_float(t.dtype(), "gradcheck", [&](auto tag) {
    using T = decltype(tag);
    const T* p = t.data<T>();
    for (std::size_t i = 0; i < t.size(); ++i) out[i] = static_cast<double>(p[i]);
  });
}

void copy_as_double(std::vector<double>& out, const Tensor& t) {
  out.resize(t.size());
  write_as_double(out.data(), t);
}

void set_element(Tensor& t, std::size_t i, double v) {
  dispatch_float(t.dtype(), "gradcheck", [&](auto tag) {
    using T = decltype(tag);
    t.data<T>()[i] = static_cast<T>(v);
  });
}

// One graph clone per thread, each already run forward at the unperturbed values.
class Workers {
 public:
  Workers(const ComputationalGraph& graph, NodeId output, const std::vector<NodeId>& wrt) : output_(output) {
    bool native = true;
    for (std::size_t id = 0; id < graph.size(); ++id) {
      const Node& n = graph.node(id);
      if (n.gate && !n.gate->native()) native = false;
    }
    for (NodeId leaf : wrt) {
      const Node& n = graph.node(leaf);
      if (n.kind == NodeKind::op) fail<ValueError>("gradcheck: '", n.name, "' is computed by a gate, not a leaf");
      if (!is_float(n.dtype)) fail<TypeError>("gradcheck: '", n.name, "' is ", dtype_name(n.dtype), ", not float");
      if (!n.value.defined()) fail<ValueError>("gradcheck: '", n.name, "' has no value");
    }
    const int threads = native ? max_threads() : 1;
    for (int t = 0; t < threads; ++t) {
      clones_.push_back(graph.clone());
      clones_.back()->forward_to(output);
    }
    buffers_.resize(clones_.size());
  }

  std::size_t count() const { return clones_.size(); }
  ComputationalGraph& mine() { return *clones_[thread_index()]; }

  // Runs f(i, graph) for i in [0, n) across the clones; exceptions are rethrown afterwards.
  template <class F>
  void run(std::size_t n, F&& f) {
    std::exception_ptr error;
    const long long count = static_cast<long long>(n);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(static_cast<int>(clones_.size()))
#endif
    for (long long i = 0; i < count; ++i) {
      try {
        f(static_cast<std::size_t>(i), mine());
      } catch (...) {
#ifdef _OPENMP
#pragma omp critical(gatelab_gradcheck_error)
#endif
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
  }

  // The output after perturbing element j of `leaf` by `delta` (restored afterwards), as
  // doubles in `out` (a per-thread buffer: no allocation per perturbation).
  // The outputs at element j of `leaf` moved by +eps and -eps, into this thread's buffers.
  void central_outputs(ComputationalGraph& g, NodeId leaf, std::size_t j, double eps) {
    shifted_output(buffers().plus, g, leaf, j, eps);
    shifted_output(buffers().minus, g, leaf, j, -eps);
  }

  void shifted_output(std::vector<double>& out, ComputationalGraph& g, NodeId leaf, std::size_t j, double delta) {
    Tensor& x = g.node_mut(leaf).value;
    const double old = element(x, j);
    set_element(x, j, old + delta);
    g.forward_to(output_);
    // Copy before restoring: the output may share the leaf's storage (reshape, flatten).
    copy_as_double(out, g.node(output_).value);
    set_element(x, j, old);
  }

  // One (plus, minus) pair of output buffers per thread of the team.
  struct Outputs {
    std::vector<double> plus, minus;
  };
  Outputs& buffers() { return buffers_[thread_index()]; }

 private:
  static std::size_t thread_index() {
#ifdef _OPENMP
    return static_cast<std::size_t>(omp_get_thread_num());
#else
    return 0;
#endif
  }

  NodeId output_;
  std::vector<std::unique_ptr<ComputationalGraph>> clones_;
  std::vector<Outputs> buffers_;
};

// Every (leaf, element) pair, so one parallel loop covers all leaves.
struct Perturbation {
  std::size_t leaf_index;
  std::size_t element;
};

std::vector<Perturbation> perturbations(const ComputationalGraph& graph, const std::vector<NodeId>& wrt) {
  std::vector<Perturbation> items;
  for (std::size_t i = 0; i < wrt.size(); ++i)
    for (std::size_t j = 0; j < graph.node(wrt[i]).value.size(); ++j) items.push_back({i, j});
  return items;
}

}  // namespace

std::vector<LeafCheck> check_jacobians(const ComputationalGraph& graph, NodeId output,
                                       const std::vector<NodeId>& wrt, double eps) {
  if (!(eps > 0)) fail<ValueError>("gradcheck: eps must be positive, got ", eps);
  // Checked here, before the threads start: a throw inside a parallel region would abort.
  Latch::current().require(Computation::numerical_gradient, "gatelab's numerical-gradient engine");
  Workers workers(graph, output, wrt);
  const Node& out = workers.mine().node(output);
  const std::size_t m = out.value.size();
  std::vector<LeafCheck> result;
  for (NodeId leaf : wrt) {
    std::size_t n = graph.node(leaf).value.size();
    result.push_back({leaf, Tensor::zeros(DType::float64, {m, n}), Tensor::zeros(DType::float64, {m, n})});
  }
  const DType out_dtype = out.dtype;
  const Shape out_shape = out.value.shape();

  // Analytic row k: backward seeded with e_k.
  workers.run(m, [&](std::size_t k, ComputationalGraph& g) {
    Tensor seed = Tensor::zeros(out_dtype, out_shape);
    set_element(seed, k, 1.0);
    g.backward_with(output, seed);
    for (std::size_t i = 0; i < wrt.size(); ++i) {
      const Tensor& grad = g.node(wrt[i]).grad;
      if (grad.defined()) write_as_double(result[i].analytic.data<double>() + k * result[i].analytic.shape()[1], grad);
    }
  });

  // Numeric column j: central difference of every output element. Each perturbation writes its
  // column as one contiguous row of a transposed buffer (writing columns of the (m, n) matrix
  // puts threads working on neighbouring j on the same cache lines, once per output element),
  // and the buffers are transposed into place at the end.
  std::vector<std::vector<double>> columns(wrt.size());
  for (std::size_t i = 0; i < wrt.size(); ++i) columns[i].resize(result[i].numeric.shape()[1] * m);
  std::vector<Perturbation> items = perturbations(graph, wrt);
  workers.run(items.size(), [&](std::size_t t, ComputationalGraph& g) {
    const Perturbation p = items[t];
    workers.central_outputs(g, wrt[p.leaf_index], p.element, eps);
    auto& buf = workers.buffers();
    double* column = columns[p.leaf_index].data() + p.element * m;
    for (std::size_t k = 0; k < m; ++k) column[k] = (buf.plus[k] - buf.minus[k]) / (2 * eps);
  });
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    double* numeric = result[i].numeric.data<double>();
    const std::size_t n = result[i].numeric.shape()[1];
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < m; ++k) numeric[k * n + j] = columns[i][j * m + k];
  }
  return result;
}

std::vector<LeafCheck> check_vjp(const ComputationalGraph& graph, NodeId output, const std::vector<NodeId>& wrt,
                                 const Tensor& dout, double eps) {
  if (!(eps > 0)) fail<ValueError>("gradcheck: eps must be positive, got ", eps);
  Latch::current().require(Computation::numerical_gradient, "gatelab's numerical-gradient engine");
  Workers workers(graph, output, wrt);
  const Node& out = workers.mine().node(output);
  if (dout.dtype() != out.dtype || dout.shape() != out.value.shape())
    fail<ValueError>("gradcheck: dout must be ", dtype_name(out.dtype), shape_str(out.value.shape()),
                     " like the output, got ", dtype_name(dout.dtype()), shape_str(dout.shape()));
  std::vector<LeafCheck> result;
  for (NodeId leaf : wrt) {
    const Shape& shape = graph.node(leaf).value.shape();
    result.push_back({leaf, Tensor::zeros(DType::float64, shape), Tensor::zeros(DType::float64, shape)});
  }

  ComputationalGraph& first = workers.mine();
  first.backward_with(output, dout);
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    const Tensor& grad = first.node(wrt[i]).grad;
    if (grad.defined()) write_as_double(result[i].analytic.data<double>(), grad);
  }

  const std::size_t m = dout.size();
  std::vector<double> up;
  copy_as_double(up, dout);
  std::vector<Perturbation> items = perturbations(graph, wrt);
  workers.run(items.size(), [&](std::size_t t, ComputationalGraph& g) {
    const Perturbation p = items[t];
    workers.central_outputs(g, wrt[p.leaf_index], p.element, eps);
    auto& buf = workers.buffers();
    double s = 0.0;
    for (std::size_t k = 0; k < m; ++k) s += up[k] * (buf.plus[k] - buf.minus[k]);
    result[p.leaf_index].numeric.data<double>()[p.element] = s / (2 * eps);
  });
  return result;
}

}  // namespace gatelab
