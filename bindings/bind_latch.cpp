// Binds the latch (gatelab/latch.hpp) and adds what only Python needs: an audit hook.
//
// _core.lock_down(["conv", "graph"]) is what the autograder's worker calls before the student's
// code loads. Beyond the latch's seccomp filter it installs a C-level audit hook (PEP 578), which
// Python code cannot remove or see: it refuses ctypes (it reaches past Python to any function or
// byte of the process, the latch's own checks included), building code objects from raw bytes
// (malformed bytecode corrupts memory), and reading /proc (a process's own memory is writable
// there); starting programs is refused with a clear message before the filter's EPERM.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>

#include "gatelab/errors.hpp"
#include "gatelab/latch.hpp"

namespace py = pybind11;

namespace gatelab {

namespace {

bool starts_with(const char* s, const char* prefix) { return std::strncmp(s, prefix, std::strlen(prefix)) == 0; }

// The first argument of an audit event as UTF-8 text, if it is a str (or bytes).
std::string first_text(PyObject* args) {
  if (!args || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 1) return "";
  PyObject* a = PyTuple_GET_ITEM(args, 0);
  if (PyUnicode_Check(a)) {
    const char* s = PyUnicode_AsUTF8(a);
    if (!s) {
      PyErr_Clear();
      return "";
    }
    return s;
  }
  if (PyBytes_Check(a)) return std::string(PyBytes_AS_STRING(a), static_cast<std::size_t>(PyBytes_GET_SIZE(a)));
  return "";
}

int refuse(const char* what) {
  PyErr_Format(PyExc_PermissionError, "%s is not allowed in graded code (the autograder's worker refuses it)", what);
  return -1;
}

// Top-level packages the assignment blocks (autodiff libraries): set once, by lock_down.
std::vector<std::string>& blocked_modules() {
  static std::vector<std::string> names;
  return names;
}

bool in_package(const std::string& module, const std::string& package) {
  return module == package || module.compare(0, package.size() + 1, package + ".") == 0;
}

int worker_audit_hook(const char* event, PyObject* args, void*) {
  if (starts_with(event, "ctypes.")) return refuse("ctypes");
  if (std::strcmp(event, "code.__new__") == 0) return refuse("building a code object from raw bytecode");
  if (std::strcmp(event, "import") == 0) {
    std::string module = first_text(args);
    for (const char* ffi : {"ctypes", "_ctypes", "cffi", "_cffi_backend"})
      if (in_package(module, ffi)) return refuse(("importing " + module).c_str());
    // Every import of a blocked package's modules is an event, even one made by hand with
    // importlib's loaders (the package imports its own submodules).
    for (const std::string& package : blocked_modules())
      if (in_package(module, package)) {
        PyErr_Format(PyExc_ImportError,
                     "'%s' cannot be imported by graded code: this assignment is about writing the gradients "
                     "yourself (no autodiff libraries)", module.c_str());
        return -1;
      }
  }
  if (std::strcmp(event, "open") == 0) {
    std::string path = first_text(args);
    if (path == "/proc" || starts_with(path.c_str(), "/proc/")) return refuse("reading /proc");
  }
  for (const char* start : {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                            "os.forkpty", "pty.spawn"})
    if (std::strcmp(event, start) == 0) return refuse("starting a program or a process");
  return 0;
}

}  // namespace

void bind_latch(py::module_& m) {
  static py::exception<LatchedError> latched_error(m, "LatchedError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const LatchedError& e) {
      PyErr_SetString(latched_error.ptr(), e.what());
    }
  });

  m.def("computations", [] {
        py::dict d;
        for (const std::string& name : computation_names())
          d[py::str(name)] = gates_computing(computation_from_name(name));
        return d;
      }, "Every computation the latch knows, with the gates (by name) that compute it.");
  m.def("latched", [] {
        std::vector<std::string> names;
        for (Computation c : Latch::current().computations()) names.push_back(computation_name(c));
        return names;
      }, "The computations latched off in this process (empty unless lock_down ran).");
  m.def("latch_supported", &latch_supported, "Whether lock_down can work here (Linux seccomp, x86-64 or aarch64).");
  m.def("lock_down", [](const std::vector<std::string>& names, const std::vector<std::string>& blocked) {
        std::vector<Computation> computations;
        for (const std::string& name : names) computations.push_back(computation_from_name(name));
        latch_off(computations);
        blocked_modules() = blocked;
        if (PySys_AddAuditHook(worker_audit_hook, nullptr) != 0) throw py::error_already_set();
      }, py::arg("computations"), py::arg("blocked_modules") = std::vector<std::string>{},
      R"pbdoc(Latches `computations` off in this process for good and refuses what could get round the
latch (ctypes, new processes, programs, sockets, /proc, raw code objects) and every import of the
`blocked_modules` packages. For the autograder's worker: once called, nothing in the process can
undo it. A second call raises LatchedError.)pbdoc");
}

}  // namespace gatelab
