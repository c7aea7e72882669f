// Sliding-window geometry shared by convolution and pooling.
//
// A window of F elements, dilated by D (it then spans D(F - 1) + 1 elements), slides in steps of
// S over an axis of N elements zero-padded by P on both sides. It fits at
//
//     out = floor((N + 2P - D(F - 1) - 1) / S) + 1            (PyTorch's rule)
//
// positions. The floor drops the last rows/columns when S doesn't divide: with N = 7, F = 3,
// S = 3 the windows start at 0 and 3, input row 6 is never read and its gradient is zero. The
// course's layers (CS231n asserts it) want exact tiling instead; `exact` makes that an error
// that suggests a padding or stride that works.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace gatelab {

// One hyper-parameter per spatial axis, (height, width). 1-D gates use only the width axis
// (their "length"); their height axis is the trivial (1, 1, 0, 1).
struct Pair {
  std::int64_t h = 1;
  std::int64_t w = 1;
  bool operator==(const Pair& o) const { return h == o.h && w == o.w; }
};

struct WindowSpec {
  int dims = 2;          // 1 (conv1d) or 2
  Pair kernel;           // F per axis; known from w's shape for convolutions
  Pair stride;           // S >= 1
  Pair padding{0, 0};    // P >= 0
  Pair dilation;         // D >= 1
};

// Throws ValueError unless stride >= 1, dilation >= 1 and padding >= 0 (messages say why).
void check_window_params(const std::string& who, const WindowSpec& spec);

// (out height, out width) for an (in height, in width) input. Throws ValueError, showing the
// arithmetic, when not even one window fits, or (exact) when the windows don't tile exactly.
// `window_word` names the window in messages: "kernel" or "pool window".
Pair window_output_size(const std::string& who, Pair in, const WindowSpec& spec, bool exact,
                        const char* window_word = "kernel");

// One axis of the above, for gatelab.conv_output_size(n, f, stride, padding, dilation, exact).
std::int64_t conv_output_size(std::int64_t n, std::int64_t f, std::int64_t stride, std::int64_t padding,
                              std::int64_t dilation, bool exact, const std::string& who = "conv2d",
                              const std::string& axis = "H");

// The output positions o in [lo, hi) of an axis of `out` positions whose input index
// o·S - P + off (off = the tap's offset i·D within the window) lies inside [0, n): the others
// read the zero padding. Kernels walk a window tap by tap over these ranges.
inline void inside(std::int64_t& lo, std::int64_t& hi, std::int64_t out, std::int64_t n, std::int64_t s,
                   std::int64_t p, std::int64_t off) {
  const std::int64_t first = p - off, last = n - 1 + p - off;  // o·S >= P - off, o·S <= n - 1 + P - off
  lo = std::min(out, first <= 0 ? 0 : (first + s - 1) / s);
  hi = std::clamp(last < 0 ? 0 : last / s + 1, lo, out);
}

// "3x3", or "3" for a 1-D spec: how messages show a per-axis size.
std::string pair_str(Pair p, int dims);
// "2", "(2, 1)": a hyper-parameter's value as Python would write it.
std::string pair_value(Pair p, int dims);
// "stride=2", "stride=(2, 1)": a hyper-parameter as describe() shows it.
std::string pair_param(const char* key, Pair p, int dims);
// "conv2d(stride=2, padding=1)", or just the name when there are no parameters to show.
std::string with_params(const std::string& name, const std::vector<std::string>& params);

}  // namespace gatelab
