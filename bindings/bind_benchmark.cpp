// Binds the benchmarks' yardstick: gatelab._core.gemm_peak_times (not a gate).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "gatelab/gemm_peak.hpp"

namespace py = pybind11;

namespace gatelab {

void bind_benchmark(py::module_& m) {
  m.def("gemm_peak_times", &gemm_peak_times, py::arg("dtype"), py::arg("n"), py::arg("threads"),
        py::arg("repeats"), py::call_guard<py::gil_scoped_release>(),
        R"pbdoc(Seconds per call of an n×n GEMM (cblas_dgemm or cblas_sgemm, BLAS's own threading on
`threads` threads), `repeats` timed calls after one warm-up; 2·n³ flops each. For benchmarks.)pbdoc");
}

}  // namespace gatelab
