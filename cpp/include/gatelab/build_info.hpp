// What this build of the core is: compiler, flags, OpenMP, BLAS. Reported by
// gatelab.build_info() so a student's bug report and a benchmark table say what ran.
#pragma once

#include <string>
#include <vector>
#include <utility>

namespace gatelab {

// Key/value pairs in a stable order; values are strings or numbers rendered as strings.
std::vector<std::pair<std::string, std::string>> build_info();

// Sets the threads used by gatelab's OpenMP loops and by BLAS.
void set_num_threads(int n);
int get_num_threads();

}  // namespace gatelab
