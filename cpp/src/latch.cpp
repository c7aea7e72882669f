// The latch (latch.hpp): what each computation covers, and the seccomp filter that holds it.
#include "gatelab/latch.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "gatelab/errors.hpp"
#include "gatelab/gate.hpp"

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#define GATELAB_HAS_SECCOMP 1
#endif

namespace gatelab {

namespace {

struct Covered {
  Computation computation;
  const char* name;
  const char* what;                 // for messages: "a convolution"
  std::vector<std::string> gates;   // every gate that computes it, with why in the comment
};

const std::vector<Covered>& table() {
  static const std::vector<Covered> t = {
      // x*y is also x / (1/y), a batched 1x1 matmul, and a depthwise convolution with one tap.
      {Computation::multiply, "multiply", "an elementwise product",
       {"multiply", "divide", "matmul", "affine", "conv1d", "conv2d"}},
      // 1/x is divide(1, x) and power(x, -1); log's derivative is 1/x.
      {Computation::reciprocal, "reciprocal", "a reciprocal", {"reciprocal", "divide", "power", "log"}},
      // sigma(x) = (1 + tanh(x/2))/2 = softplus'(x) = softmax([x, 0])[0]; BCE's gradient is sigma(x) - t.
      {Computation::sigmoid, "sigmoid", "the logistic sigmoid",
       {"sigmoid", "tanh", "softplus", "bce_with_logits", "softmax", "log_softmax", "softmax_cross_entropy"}},
      // relu(x) = max(x, 0) = leaky_relu(x, 0) = elu(x, alpha=0); a max pool over two-element windows.
      {Computation::maximum, "maximum", "an elementwise maximum",
       {"maximum", "relu", "leaky_relu", "elu", "max_pool2d"}},
      // A mean is sum / N, an average pool over the whole plane, a product with a 1/N vector.
      {Computation::mean, "mean", "a mean", {"mean", "sum", "avg_pool2d", "matmul", "affine", "conv1d", "conv2d"}},
      // x W + b, and a 1x1 (or one-tap) convolution.
      {Computation::affine, "affine", "an affine layer (x W + b)", {"affine", "matmul", "conv1d", "conv2d"}},
      {Computation::relu, "relu", "a ReLU", {"relu", "leaky_relu", "elu", "maximum", "max_pool2d"}},
      // A two-class softmax is a sigmoid.
      {Computation::softmax, "softmax", "a softmax or its cross-entropy",
       {"softmax", "log_softmax", "softmax_cross_entropy", "sigmoid", "bce_with_logits"}},
      // The hinge max(0, s_j - s_y + margin) is a maximum.
      {Computation::svm_loss, "svm_loss", "the multiclass SVM loss",
       {"svm_loss", "maximum", "relu", "leaky_relu", "elu", "max_pool2d"}},
      {Computation::conv, "conv", "a convolution", {"conv1d", "conv2d"}},
      {Computation::max_pool, "max_pool", "max pooling", {"max_pool2d", "maximum"}},
      {Computation::graph, "graph", "gradients by automatic differentiation (a computational graph)", {}},
      {Computation::numerical_gradient, "numerical_gradient", "numerical gradients (finite differences)", {}},
  };
  return t;
}

const Covered& entry(Computation c) { return table()[static_cast<unsigned>(c)]; }

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const std::string& item : items) s += (s.empty() ? "" : ", ") + item;
  return s;
}

#ifdef GATELAB_HAS_SECCOMP
// The private prctl() options the filter answers: errno = kPresent | 11 bits of the mask each.
constexpr unsigned long kQueryLow = 0x676c0001UL, kQueryHigh = 0x676c0002UL;
constexpr int kPresent = 0x800;
constexpr unsigned kBitsPerQuery = 11;

// The filter's answer to one query: -1 when no latch filter is installed.
int query(unsigned long option) {
  errno = 0;
  long r = syscall(SYS_prctl, option, 0UL, 0UL, 0UL, 0UL);
  int e = errno;
  if (r == -1 && (e & kPresent) && e <= 0xfff) return e & (kPresent - 1);
  return -1;
}

#if defined(__x86_64__)
constexpr unsigned kArch = AUDIT_ARCH_X86_64;
#else
constexpr unsigned kArch = AUDIT_ARCH_AARCH64;
#endif

sock_filter stmt(unsigned short code, unsigned k) { return BPF_STMT(code, k); }
sock_filter jump(unsigned short code, unsigned k, unsigned char jt, unsigned char jf) {
  return BPF_JUMP(code, k, jt, jf);
}
unsigned errno_ret(int e) { return SECCOMP_RET_ERRNO | (static_cast<unsigned>(e) & SECCOMP_RET_DATA); }

std::vector<sock_filter> filter_program(std::uint32_t mask) {
  const unsigned nr = offsetof(struct seccomp_data, nr);
  const unsigned arg0 = offsetof(struct seccomp_data, args);  // low 32 bits (little-endian)
  std::vector<sock_filter> p = {
      stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      jump(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      stmt(BPF_LD | BPF_W | BPF_ABS, nr),
  };
#if defined(__x86_64__)
  p.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U, 0, 1));  // the x32 ABI: another syscall table
  p.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
#endif
  auto refuse = [&](long number, int err) {
    p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(number), 0, 1));
    p.push_back(stmt(BPF_RET | BPF_K, errno_ret(err)));
  };
  // Programs and processes would start without this process's state; tracing and reading other
  // processes, sockets (the worker's channel is already open), io_uring (it runs operations
  // outside the filter) and new filters (they would answer the query first) are refused too.
  for (long number : {long(__NR_execve), long(__NR_execveat), long(__NR_ptrace), long(__NR_process_vm_readv),
                      long(__NR_process_vm_writev), long(__NR_seccomp), long(__NR_socket), long(__NR_socketpair),
                      long(__NR_unshare), long(__NR_setns), long(__NR_io_uring_setup), long(__NR_io_uring_enter),
                      long(__NR_io_uring_register)})
    refuse(number, EPERM);
#ifdef __NR_fork
  refuse(__NR_fork, EPERM);
  refuse(__NR_vfork, EPERM);
#endif
  refuse(__NR_clone3, ENOSYS);  // its flags are out of the filter's reach; glibc falls back to clone
  // clone: threads (CLONE_THREAD) yes, processes no.
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4));
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, arg0));
  p.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1));
  p.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  p.push_back(stmt(BPF_RET | BPF_K, errno_ret(EPERM)));
  // prctl: the two queries, and no PR_SET_SECCOMP.
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 0, 7));
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, arg0));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(kQueryLow), 0, 1));
  p.push_back(stmt(BPF_RET | BPF_K, errno_ret(kPresent | int(mask & 0x7ff))));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(kQueryHigh), 0, 1));
  p.push_back(stmt(BPF_RET | BPF_K, errno_ret(kPresent | int((mask >> kBitsPerQuery) & 0x7ff))));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_SECCOMP, 0, 1));
  p.push_back(stmt(BPF_RET | BPF_K, errno_ret(EPERM)));
  p.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  return p;
}
#endif

}  // namespace

std::string computation_name(Computation c) { return entry(c).name; }

std::vector<std::string> computation_names() {
  std::vector<std::string> names;
  for (const Covered& e : table()) names.push_back(e.name);
  return names;
}

Computation computation_from_name(const std::string& name) {
  for (const Covered& e : table())
    if (name == e.name) return e.computation;
  fail<ValueError>("latch: unknown computation '", name, "'; known: ", join(computation_names()));
}

std::vector<std::string> gates_computing(Computation c) { return entry(c).gates; }

Latch Latch::current() {
#ifdef GATELAB_HAS_SECCOMP
  int low = query(kQueryLow);
  if (low < 0) return Latch(0);
  int high = std::max(query(kQueryHigh), 0);
  return Latch(static_cast<std::uint32_t>(low) | (static_cast<std::uint32_t>(high) << kBitsPerQuery));
#else
  return Latch(0);
#endif
}

std::vector<Computation> Latch::computations() const {
  std::vector<Computation> out;
  for (const Covered& e : table())
    if (has(e.computation)) out.push_back(e.computation);
  return out;
}

void Latch::require(Computation c, const std::string& who) const {
  if (!has(c)) return;
  const Covered& e = entry(c);
  std::string others = e.gates.empty() ? "" : " (" + join(e.gates) + ")";
  throw LatchedError(who + " is switched off here: this test grades code that computes " + e.what +
                     " itself, so gatelab's own" + others + " cannot be used for it");
}

void Latch::require(const Gate& gate) const {
  if (empty() || !gate.native()) return;  // a gate written in Python is the student's own code
  const std::string name = gate.name();
  for (const Covered& e : table())
    if (has(e.computation) && std::find(e.gates.begin(), e.gates.end(), name) != e.gates.end())
      require(e.computation, "gatelab's " + name);
}

bool latch_supported() {
#ifdef GATELAB_HAS_SECCOMP
  return true;
#else
  return false;
#endif
}

void latch_off(const std::vector<Computation>& computations) {
#ifdef GATELAB_HAS_SECCOMP
  if (query(kQueryLow) >= 0) throw LatchedError("latch: this process is latched already; a latch is set once");
  static_assert(static_cast<unsigned>(Computation::count) <= 2 * kBitsPerQuery, "two queries hold the mask");
  std::uint32_t mask = 0;
  for (Computation c : computations) mask |= Latch::bit(c);
  std::vector<sock_filter> program = filter_program(mask);
  sock_fprog prog{static_cast<unsigned short>(program.size()), program.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    throw LatchedError(std::string("latch: PR_SET_NO_NEW_PRIVS failed: ") + std::strerror(errno));
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
    throw LatchedError(std::string("latch: the seccomp filter could not be installed: ") + std::strerror(errno));
#else
  (void)computations;
  throw LatchedError("latch: needs Linux seccomp on x86-64 or aarch64");
#endif
}

}  // namespace gatelab
