// Binds the convolution and pooling gates into gatelab._core.gates, and the output-size helper
// gatelab._core.conv_output_size. Hyper-parameters are an int or an (h, w) pair, as in PyTorch.
#include <pybind11/stl.h>

#include "bind_gate_base.hpp"
#include "gatelab/gates/convolution.hpp"
#include "gatelab/gates/pooling.hpp"

namespace gatelab {

namespace {

// An int (both axes) or a sequence of `dims` ints -> Pair. 1-D values fill the width axis.
Pair pair_from(py::handle value, const std::string& who, const char* key, int dims) {
  auto as_int = [&](py::handle v) -> std::int64_t {
    if (py::isinstance<py::bool_>(v) || !PyIndex_Check(v.ptr()))
      fail<TypeError>(who, ": ", key, " must be an int or a tuple of ", dims, " ints, got ",
                      py::repr(value).cast<std::string>());
    return py::reinterpret_steal<py::int_>(PyNumber_Index(v.ptr())).cast<std::int64_t>();
  };
  if (py::isinstance<py::tuple>(value) || py::isinstance<py::list>(value)) {
    py::sequence seq = py::reinterpret_borrow<py::sequence>(value);
    if (static_cast<int>(seq.size()) != dims)
      fail<ValueError>(who, ": ", key, " ", py::repr(value).cast<std::string>(), " has ", seq.size(),
                       " entries; give one int, or ", dims, dims == 2 ? " (height, width)" : "");
    return dims == 2 ? Pair{as_int(seq[0]), as_int(seq[1])} : Pair{1, as_int(seq[0])};
  }
  const std::int64_t v = as_int(value);
  return dims == 2 ? Pair{v, v} : Pair{1, v};
}

py::tuple pair_tuple(Pair p, int dims) {
  if (dims == 2) return py::make_tuple(p.h, p.w);
  return py::make_tuple(p.w);
}

template <int Dims>
void bind_conv(py::module_& gates, const char* name, const char* doc) {
  using G = ConvGate<Dims>;
  const std::string who = Dims == 1 ? "conv1d" : "conv2d";
  bind_gate<G>(gates, name, doc)
      .def(py::init([who](py::handle stride, py::handle padding, py::handle dilation, std::int64_t groups) {
             return std::make_shared<G>(pair_from(stride, who, "stride", Dims), pair_from(padding, who, "padding", Dims),
                                        pair_from(dilation, who, "dilation", Dims), groups);
           }),
           py::arg("stride") = 1, py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1)
      .def_property_readonly("stride", [](const G& g) { return pair_tuple(g.stride(), Dims); })
      .def_property_readonly("padding", [](const G& g) { return pair_tuple(g.padding(), Dims); })
      .def_property_readonly("dilation", [](const G& g) { return pair_tuple(g.dilation(), Dims); })
      .def_property_readonly("groups", &G::groups);
}

// kernel_size, stride (None: the kernel size, non-overlapping windows) and padding of a pool.
struct PoolArgs {
  Pair kernel, stride, padding;
  PoolArgs(py::handle k, py::handle s, py::handle p, const std::string& who)
      : kernel(pair_from(k, who, "kernel_size", 2)),
        stride(s.is_none() ? kernel : pair_from(s, who, "stride", 2)),
        padding(pair_from(p, who, "padding", 2)) {}
};

template <class G>
void pool_properties(py::class_<G, Gate, std::shared_ptr<G>>& cls) {
  cls.def_property_readonly("kernel_size", [](const G& g) { return pair_tuple(g.kernel_size(), 2); })
      .def_property_readonly("stride", [](const G& g) { return pair_tuple(g.stride(), 2); })
      .def_property_readonly("padding", [](const G& g) { return pair_tuple(g.padding(), 2); });
}

}  // namespace

void bind_convolution_gates(py::module_& m, py::module_& gates) {
  bind_conv<2>(gates, "Conv2d", R"pbdoc(
2-D convolution (cross-correlation): forward(x, w) or forward(x, w, b).

x is (N, C, H, W), w is (K, C/groups, FH, FW), b is (K,); the output is (N, K, OH, OW) with
OH = floor((H + 2P - D(FH - 1) - 1)/S) + 1 (the same for OW). stride S, padding P (zeros),
dilation D: an int or an (h, w) pair. groups splits the channels into independent groups
(groups = C: depthwise). backward(dout) returns (dx, dw) or (dx, dw, db).
)pbdoc");
  bind_conv<1>(gates, "Conv1d", R"pbdoc(
1-D convolution (cross-correlation): forward(x, w) or forward(x, w, b).

x is (N, C, L), w is (K, C/groups, F), b is (K,); the output is (N, K, OL) with
OL = floor((L + 2P - D(F - 1) - 1)/S) + 1. backward(dout) returns (dx, dw) or (dx, dw, db).
)pbdoc");

  auto max_pool = bind_gate<MaxPool2dGate>(gates, "MaxPool2d", R"pbdoc(
2-D max pooling: forward(x) with x (N, C, H, W) -> (N, C, OH, OW).

Ties go to the first maximum in the window (row by row) and NaN propagates, as in PyTorch;
saved["argmax"] holds each window's winner as a flat index ih*W + iw within its plane.
backward(dout) adds each output's gradient to its argmax (overlapping windows accumulate).
stride defaults to kernel_size; padding (at most kernel_size/2) pads with -inf.
)pbdoc");
  max_pool.def(py::init([](py::handle kernel, py::handle stride, py::handle padding) {
                 PoolArgs a(kernel, stride, padding, "max_pool2d");
                 return std::make_shared<MaxPool2dGate>(a.kernel, a.stride, a.padding);
               }),
               py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0);
  pool_properties(max_pool);

  auto avg_pool = bind_gate<AvgPool2dGate>(gates, "AvgPool2d", R"pbdoc(
2-D average pooling: forward(x) with x (N, C, H, W) -> (N, C, OH, OW).

Each output is the mean of its window; padding (at most kernel_size/2) pads with zeros, which
count in the divisor when count_include_pad (PyTorch's default). backward(dout) spreads each
output's gradient evenly over its window (overlapping windows accumulate).
)pbdoc");
  avg_pool.def(py::init([](py::handle kernel, py::handle stride, py::handle padding, bool count_include_pad) {
                 PoolArgs a(kernel, stride, padding, "avg_pool2d");
                 return std::make_shared<AvgPool2dGate>(a.kernel, a.stride, a.padding, count_include_pad);
               }),
               py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
               py::arg("count_include_pad") = true)
      .def_property_readonly("count_include_pad", &AvgPool2dGate::count_include_pad);
  pool_properties(avg_pool);

  m.def("conv_output_size", &conv_output_size, py::arg("n"), py::arg("f"), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("exact") = false, py::kw_only(),
        py::arg("who") = "conv2d", py::arg("axis") = "H", R"pbdoc(
Output size of a convolution (or pooling) along one axis: floor((n + 2P - D(f - 1) - 1)/S) + 1.

Raises ValueError showing the arithmetic when the kernel is larger than the padded input, and,
with exact=True (the course's layers), when the windows don't tile the padded input exactly,
suggesting a padding or stride that works. `who` and `axis` name the gate and axis in messages.
)pbdoc");
}

}  // namespace gatelab
