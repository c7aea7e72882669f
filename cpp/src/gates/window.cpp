#include "gatelab/gates/window.hpp"

#include <cstdlib>
#include <sstream>

#include "gatelab/errors.hpp"

namespace gatelab {

namespace {

struct AxisName {
  const char* word;    // "height"
  const char* letter;  // "H"
};

// What the window and the input look like, for messages: "the 7x7 kernel", "the padded 5x5 input".
struct Scene {
  std::string window;
  std::string input;
  bool pool = false;  // pooling pads with at most half a window (PyTorch's rule)
};

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// "(H + 2P - F)/S + 1 = (7 + 0 - 3)/3 + 1", with the dilated form when D != 1.
std::string formula(const char* letter, std::int64_t n, std::int64_t f, std::int64_t s, std::int64_t p,
                    std::int64_t d) {
  std::ostringstream o;
  if (d == 1)
    o << "(" << letter << " + 2P - F)/S + 1 = (" << n << " + " << 2 * p << " - " << f << ")/" << s << " + 1";
  else
    o << "(" << letter << " + 2P - D(F-1) - 1)/S + 1 = (" << n << " + " << 2 * p << " - " << d * (f - 1)
      << " - 1)/" << s << " + 1";
  return o.str();
}

// A padding near p, and a stride near s, for which the windows tile the padded input exactly.
std::string tiling_fix(std::int64_t n, std::int64_t f, std::int64_t s, std::int64_t p, std::int64_t d, bool pool) {
  const std::int64_t span = d * (f - 1) + 1;
  auto tiles = [&](std::int64_t pp) {
    std::int64_t num = n + 2 * pp - span;
    return pp >= 0 && num >= 0 && num % s == 0 && (!pool || pp <= f / 2);
  };
  std::string fix;
  for (std::int64_t k = 1; k <= s && fix.empty(); ++k) {
    if (tiles(p + k)) fix = "padding=" + std::to_string(p + k);
    else if (tiles(p - k)) fix = "padding=" + std::to_string(p - k);
  }
  const std::int64_t num = n + 2 * p - span;  // >= 1 here: one window fits, the tiling doesn't
  std::int64_t best = 0;
  for (std::int64_t cand = 1; cand <= num; ++cand)
    if (cand != s && num % cand == 0 && (best == 0 || std::abs(cand - s) < std::abs(best - s))) best = cand;
  if (best) fix += (fix.empty() ? "stride=" : " or stride=") + std::to_string(best);
  return fix;
}

std::int64_t positions(const std::string& who, AxisName axis, const Scene& scene, std::int64_t n, std::int64_t f,
                       std::int64_t s, std::int64_t p, std::int64_t d, bool exact) {
  const std::int64_t span = d * (f - 1) + 1;
  const std::int64_t num = n + 2 * p - span;
  const std::int64_t out = floor_div(num, s) + 1;
  if (num < 0) {
    const std::int64_t need = (span - n + 1) / 2;  // smallest P with N + 2P >= span
    std::ostringstream fix;
    if (!scene.pool) fix << "use padding >= " << need << " or a smaller kernel";
    else if (need <= f / 2) fix << "use padding=" << need << " or a smaller kernel_size";
    else fix << "use a smaller kernel_size";
    fail<ValueError>(who, ": output ", axis.word, " ", formula(axis.letter, n, f, s, p, d), " = ", out,
                     " < 1: ", scene.window, " is larger than ", scene.input, "; ", fix.str());
  }
  if (exact && num % s != 0) {
    std::string fix = tiling_fix(n, f, s, p, d, scene.pool);
    fail<ValueError>(who, ": ", formula(axis.letter, n, f, s, p, d), " is not an integer", fix.empty() ? "" : "; try ",
                     fix, " (the course's layers want windows that tile the padded input exactly)");
  }
  return out;
}

void require(const std::string& who, const char* what, Pair v, std::int64_t least, int dims, const char* why) {
  std::int64_t bad = v.w < least ? v.w : (dims == 2 && v.h < least ? v.h : least);
  if (bad < least) fail<ValueError>(who, ": ", what, " must be >= ", least, ", got ", bad, " (", why, ")");
}

}  // namespace

std::string pair_str(Pair p, int dims) {
  return dims == 1 ? std::to_string(p.w) : std::to_string(p.h) + "x" + std::to_string(p.w);
}

std::string pair_value(Pair p, int dims) {
  if (dims == 1 || p.h == p.w) return std::to_string(p.w);
  return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")";
}

std::string pair_param(const char* key, Pair p, int dims) { return std::string(key) + "=" + pair_value(p, dims); }

std::string with_params(const std::string& name, const std::vector<std::string>& params) {
  std::string s = name;
  for (std::size_t i = 0; i < params.size(); ++i) s += (i ? ", " : "(") + params[i];
  return params.empty() ? s : s + ")";
}

void check_window_params(const std::string& who, const WindowSpec& spec) {
  require(who, "stride", spec.stride, 1, spec.dims, "a window moves by at least one element");
  require(who, "dilation", spec.dilation, 1, spec.dims, "dilation 1 is an ordinary, dense window");
  require(who, "padding", spec.padding, 0, spec.dims, "zero padding adds P rows and columns on each side");
}

Pair window_output_size(const std::string& who, Pair in, const WindowSpec& spec, bool exact, const char* window_word) {
  const int dims = spec.dims;
  const Pair span{spec.dilation.h * (spec.kernel.h - 1) + 1, spec.dilation.w * (spec.kernel.w - 1) + 1};
  const Pair padded{in.h + 2 * spec.padding.h, in.w + 2 * spec.padding.w};
  Scene scene;
  scene.pool = std::string(window_word) != "kernel";
  if (dims == 1) {
    scene.window = std::string("the ") + window_word + " of size " + pair_str(spec.kernel, 1);
    scene.input = "the padded input of length " + pair_str(padded, 1);
  } else {
    scene.window = "the " + pair_str(spec.kernel, 2) + " " + window_word;
    scene.input = "the padded " + pair_str(padded, 2) + " input";
  }
  if (!(spec.dilation == Pair{1, 1}))
    scene.window += " with " + pair_param("dilation", spec.dilation, dims) + " (spanning " + pair_str(span, dims) + ")";
  Pair out{1, 1};
  if (dims == 2)
    out.h = positions(who, {"height", "H"}, scene, in.h, spec.kernel.h, spec.stride.h, spec.padding.h,
                      spec.dilation.h, exact);
  out.w = positions(who, dims == 1 ? AxisName{"length", "L"} : AxisName{"width", "W"}, scene, in.w, spec.kernel.w,
                    spec.stride.w, spec.padding.w, spec.dilation.w, exact);
  return out;
}

std::int64_t conv_output_size(std::int64_t n, std::int64_t f, std::int64_t stride, std::int64_t padding,
                              std::int64_t dilation, bool exact, const std::string& who, const std::string& axis) {
  WindowSpec spec;
  spec.dims = 1;
  spec.kernel = {1, f};
  spec.stride = {1, stride};
  spec.padding = {0, padding};
  spec.dilation = {1, dilation};
  if (n < 0) fail<ValueError>(who, ": input size must be >= 0, got ", n);
  if (f < 1) fail<ValueError>(who, ": kernel size must be >= 1, got ", f);
  check_window_params(who, spec);
  Scene scene;
  scene.window = "the kernel of size " + std::to_string(f);
  if (dilation != 1) scene.window += " with dilation=" + std::to_string(dilation) + " (spanning " +
                                     std::to_string(dilation * (f - 1) + 1) + ")";
  scene.input = "the padded input of size " + std::to_string(n + 2 * padding);
  const std::string word = axis == "H" ? "height" : axis == "W" ? "width" : "size";
  return positions(who, {word.c_str(), axis.c_str()}, scene, n, f, stride, padding, dilation, exact);
}

}  // namespace gatelab
