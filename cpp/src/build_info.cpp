#include "gatelab/build_info.hpp"

#include <dlfcn.h>

#include "gatelab/errors.hpp"
#include "gatelab/parallel.hpp"

#ifndef GATELAB_VERSION
#define GATELAB_VERSION "0+unknown"
#endif
#ifndef GATELAB_CXX_FLAGS
#define GATELAB_CXX_FLAGS ""
#endif
#ifndef GATELAB_BUILD_TYPE
#define GATELAB_BUILD_TYPE ""
#endif

// OpenBLAS's own introspection; the build links OpenBLAS (CMake refuses other BLAS builds).
extern "C" {
char* openblas_get_config(void);
int openblas_get_num_threads(void);
int openblas_get_parallel(void);
void openblas_set_num_threads(int);
void cblas_dgemm();
}

namespace gatelab {

namespace {
std::string compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown";
#endif
}

std::string library_of(void* symbol) {
  Dl_info info;
  if (dladdr(symbol, &info) && info.dli_fname) return info.dli_fname;
  return "unknown";
}

std::string blas_threading() {
  switch (openblas_get_parallel()) {
    case 0: return "sequential";
    case 1: return "pthreads";
    case 2: return "openmp";
  }
  return "unknown";
}
}  // namespace

std::vector<std::pair<std::string, std::string>> build_info() {
  std::vector<std::pair<std::string, std::string>> info;
  info.emplace_back("version", GATELAB_VERSION);
  info.emplace_back("compiler", compiler());
  info.emplace_back("build_type", GATELAB_BUILD_TYPE);
  info.emplace_back("cxx_flags", GATELAB_CXX_FLAGS);
#ifdef _OPENMP
  info.emplace_back("openmp", "on");
  info.emplace_back("openmp_version", std::to_string(_OPENMP));
#else
  info.emplace_back("openmp", "off");
  info.emplace_back("openmp_version", "");
#endif
  info.emplace_back("threads", std::to_string(max_threads()));
  info.emplace_back("blas", "OpenBLAS");
  info.emplace_back("blas_config", openblas_get_config());
  info.emplace_back("blas_threading", blas_threading());
  info.emplace_back("blas_threads", std::to_string(openblas_get_num_threads()));
  info.emplace_back("blas_library", library_of(reinterpret_cast<void*>(&cblas_dgemm)));
  return info;
}

void set_num_threads(int n) {
  if (n < 1) fail<ValueError>("set_num_threads: need at least 1 thread, got ", n);
  set_max_threads(n);
  openblas_set_num_threads(n);
}

int get_num_threads() { return max_threads(); }

}  // namespace gatelab
