// Exceptions the bindings turn into Python's ValueError, TypeError and gatelab.LatchedError.
// Messages name the gate, the shapes involved and what would fix the problem.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace gatelab {

// A value is wrong: a shape, a size, a hyper-parameter, a label out of range.
struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A type is wrong: a dtype mismatch (never silently cast), a non-array where an array is due.
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A computation latched off in this process (latch.hpp) was asked for: in the autograder's
// worker, the code being graded must compute it itself.
struct LatchedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Builds a message from streamable pieces: fail<ValueError>("conv2d: ", h, " ...").
template <class Error, class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw Error(message.str());
}

}  // namespace gatelab
