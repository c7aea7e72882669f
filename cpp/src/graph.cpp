#include "gatelab/graph.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <queue>
#include <unordered_set>

namespace gatelab {

namespace {
std::atomic<std::uint64_t> next_token{1};

const char* kind_name(NodeKind kind) {
  switch (kind) {
    case NodeKind::input: return "input";
    case NodeKind::parameter: return "parameter";
    case NodeKind::constant: return "constant";
    case NodeKind::op: return "op";
  }
  return "?";
}

std::string declared_shape_str(const Shape& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i] == kAnyDim ? "None" : std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

bool fits_declared(const Shape& declared, const Shape& actual) {
  if (declared.size() != actual.size()) return false;
  for (std::size_t i = 0; i < declared.size(); ++i)
    if (declared[i] != kAnyDim && declared[i] != actual[i]) return false;
  return true;
}
}  // namespace

ComputationalGraph::ComputationalGraph() : token_(next_token++) {}

void ComputationalGraph::check_id(NodeId id, const char* who) const {
  if (id >= nodes_.size()) fail<ValueError>(who, ": node id ", id, " does not belong to this graph");
}

const Node& ComputationalGraph::node(NodeId id) const {
  check_id(id, "node");
  return nodes_[id];
}

Node& ComputationalGraph::node_mut(NodeId id) {
  check_id(id, "node");
  return nodes_[id];
}

bool ComputationalGraph::has_name(const std::string& name) const { return by_name_.count(name) != 0; }

NodeId ComputationalGraph::find(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) fail<ValueError>("graph has no node named '", name, "'");
  return it->second;
}

std::string ComputationalGraph::unique_name(const std::string& wanted, const char* prefix) {
  if (!wanted.empty()) {
    if (has_name(wanted)) fail<ValueError>("graph already has a node named '", wanted, "'; names must be unique");
    return wanted;
  }
  std::string name = prefix + std::to_string(prefix == std::string("v") ? ++op_count_ : nodes_.size());
  while (has_name(name)) name += "_";
  return name;
}

void ComputationalGraph::rename(NodeId id, const std::string& name) {
  check_id(id, "rename");
  if (nodes_[id].name == name) return;
  std::string fresh = unique_name(name, "");
  by_name_.erase(nodes_[id].name);
  nodes_[id].name = fresh;
  by_name_[fresh] = id;
}

std::string ComputationalGraph::node_label(NodeId id) const {
  const Node& n = nodes_[id];
  std::string s = "node '" + n.name + "'";
  if (n.kind != NodeKind::op) return s + " (" + kind_name(n.kind) + ")";
  s += " = " + n.gate->describe() + "(";
  for (std::size_t i = 0; i < n.inputs.size(); ++i) s += (i ? ", " : "") + nodes_[n.inputs[i]].name;
  return s + ")";
}

NodeId ComputationalGraph::add_leaf(const std::string& name, NodeKind kind, Tensor value) {
  Node n;
  n.id = nodes_.size();
  n.name = unique_name(name, kind == NodeKind::constant ? "const" : "leaf");
  n.kind = kind;
  n.dtype = value.dtype();
  n.shape = value.shape();
  n.requires_grad = kind != NodeKind::constant && is_float(value.dtype());
  n.value = std::move(value);
  by_name_[n.name] = n.id;
  nodes_.push_back(std::move(n));
  structure_changed();
  fresh_ = false;
  stale_reason_ = "node '" + nodes_.back().name + "' was added after the last forward pass";
  return nodes_.back().id;
}

NodeId ComputationalGraph::add_input(const std::string& name, Tensor value) {
  return add_leaf(name, NodeKind::input, std::move(value));
}

NodeId ComputationalGraph::add_parameter(const std::string& name, Tensor value) {
  if (!is_float(value.dtype()))
    fail<TypeError>("parameter '", name, "': a trainable value must be float64 or float32, not ",
                    dtype_name(value.dtype()));
  return add_leaf(name, NodeKind::parameter, std::move(value));
}

NodeId ComputationalGraph::add_constant(Tensor value, const std::string& name) {
  return add_leaf(name, NodeKind::constant, std::move(value));
}

NodeId ComputationalGraph::add_placeholder(const std::string& name, DType dtype, Shape shape) {
  NodeId id = add_leaf(name, NodeKind::input, Tensor());
  nodes_[id].dtype = dtype;
  nodes_[id].shape = std::move(shape);
  nodes_[id].shape_known =
      std::none_of(nodes_[id].shape.begin(), nodes_[id].shape.end(), [](std::size_t d) { return d == kAnyDim; });
  nodes_[id].requires_grad = is_float(dtype);
  return id;
}

void ComputationalGraph::infer(Node& n) {
  std::vector<TensorSpec> specs;
  bool known = true;
  n.requires_grad = false;
  for (std::size_t i = 0; i < n.inputs.size(); ++i) {
    const Node& in = nodes_[n.inputs[i]];
    specs.push_back({in.dtype, in.shape});
    known = known && in.shape_known;
    if (in.requires_grad && n.gate->differentiable(i)) n.requires_grad = true;
  }
  n.shape_known = false;
  if (!known) return;
  std::optional<TensorSpec> spec = n.gate->check(specs);
  if (spec) {
    n.dtype = spec->dtype;
    n.shape = spec->shape;
    n.shape_known = true;
  }
}

NodeId ComputationalGraph::add_op(std::shared_ptr<Gate> gate, const std::vector<NodeId>& inputs,
                                  const std::string& name) {
  if (!gate) fail<ValueError>("add_op: no gate given");
  if (gate->attached())
    fail<ValueError>(gate->name(), ": this gate instance is already used by a node; its saved state belongs ",
                     "to that node. Create a new instance for each use.");
  if (gate->arity() >= 0 && static_cast<int>(inputs.size()) != gate->arity())
    fail<TypeError>(gate->name(), ": takes ", gate->arity(), " input(s), got ", inputs.size());
  for (NodeId id : inputs) check_id(id, gate->name().c_str());
  Node n;
  n.id = nodes_.size();
  n.kind = NodeKind::op;
  n.gate = std::move(gate);
  n.inputs = inputs;
  infer(n);  // throws before the node exists if the inputs do not fit the gate
  n.name = unique_name(name, "v");
  n.gate->set_attached(true);
  by_name_[n.name] = n.id;
  nodes_.push_back(std::move(n));
  structure_changed();
  fresh_ = false;
  stale_reason_ = "node '" + nodes_.back().name + "' was added after the last forward pass";
  return nodes_.back().id;
}

void ComputationalGraph::set_inputs(NodeId op, const std::vector<NodeId>& inputs) {
  check_id(op, "set_inputs");
  Node& n = nodes_[op];
  if (n.kind != NodeKind::op) fail<ValueError>("set_inputs: ", node_label(op), " is a leaf and has no inputs");
  if (n.gate->arity() >= 0 && static_cast<int>(inputs.size()) != n.gate->arity())
    fail<TypeError>(n.gate->name(), ": takes ", n.gate->arity(), " input(s), got ", inputs.size());
  for (NodeId id : inputs) check_id(id, "set_inputs");
  n.inputs = inputs;
  n.shape_known = false;  // re-inferred at the next forward pass
  structure_changed();
  fresh_ = false;
  stale_reason_ = "the inputs of node '" + n.name + "' changed after the last forward pass";
}

void ComputationalGraph::feed(NodeId id, Tensor value) {
  check_id(id, "feed");
  Node& n = nodes_[id];
  if (n.kind == NodeKind::op)
    fail<ValueError>("feed: ", node_label(id), " is computed by a gate; only inputs, parameters and ",
                     "constants take values");
  if (value.dtype() != n.dtype)
    fail<TypeError>("feed: '", n.name, "' is ", dtype_name(n.dtype), " but the value is ",
                    dtype_name(value.dtype()), "; gatelab never casts silently, pass .astype(np.",
                    dtype_name(n.dtype), ")");
  if (!fits_declared(n.shape, value.shape())) {
    bool has_value = n.value.defined();
    fail<ValueError>("feed: '", n.name, "' has shape ", declared_shape_str(n.shape), " but the value has shape ",
                     shape_str(value.shape()),
                     has_value ? "; to allow other sizes, declare it with shape=(None, ...) for the free dimensions"
                               : "");
  }
  n.value = std::move(value);
  fresh_ = false;
  stale_reason_ = "'" + n.name + "' was given a new value after the last forward pass";
}

const std::vector<NodeId>& ComputationalGraph::topological_order() {
  if (topo_valid_) return topo_;
  // Kahn's algorithm: repeatedly take a node whose inputs are all placed. Iterative, so depth
  // is no problem; ties go to the lower id, so the order is the creation order when possible.
  const std::size_t n = nodes_.size();
  std::vector<std::size_t> missing(n, 0);
  std::vector<std::vector<NodeId>> users(n);
  for (const Node& node : nodes_)
    for (NodeId in : node.inputs) {
      ++missing[node.id];
      users[in].push_back(node.id);
    }
  std::vector<NodeId> order;
  order.reserve(n);
  std::priority_queue<NodeId, std::vector<NodeId>, std::greater<NodeId>> ready;
  for (NodeId id = 0; id < n; ++id)
    if (missing[id] == 0) ready.push(id);
  while (!ready.empty()) {
    NodeId id = ready.top();
    ready.pop();
    order.push_back(id);
    for (NodeId user : users[id])
      if (--missing[user] == 0) ready.push(user);
  }
  if (order.size() != n) {
    // Every unplaced node lies on or downstream of a cycle; walk inputs to name one cycle.
    NodeId start = 0;
    while (missing[start] == 0) ++start;
    std::vector<int> seen(n, -1);
    std::vector<NodeId> path;
    NodeId cur = start;
    while (seen[cur] < 0) {
      seen[cur] = static_cast<int>(path.size());
      path.push_back(cur);
      for (NodeId in : nodes_[cur].inputs)
        if (missing[in] != 0) {
          cur = in;
          break;
        }
    }
    std::string cycle;
    for (std::size_t i = seen[cur]; i < path.size(); ++i) cycle += nodes_[path[i]].name + " <- ";
    cycle += nodes_[cur].name;
    fail<ValueError>("graph has a cycle: ", cycle, " (each node takes the next as an input); ",
                     "a computational graph must be acyclic (check set_inputs)");
  }
  topo_ = std::move(order);
  topo_valid_ = true;
  return topo_;
}

void ComputationalGraph::structure_changed() {
  topo_valid_ = false;
  ancestors_valid_ = false;
}

std::vector<NodeId> ComputationalGraph::ancestors(NodeId output) { return cached_ancestors(output); }

const std::vector<NodeId>& ComputationalGraph::cached_ancestors(NodeId output) {
  check_id(output, "ancestors");
  if (ancestors_valid_ && ancestors_of_ == output) return ancestors_;
  const std::vector<NodeId>& order = topological_order();
  std::vector<char> needed(nodes_.size(), 0);
  needed[output] = 1;
  // Reverse topological order: a node is needed if a needed node uses it.
  for (std::size_t k = order.size(); k-- > 0;) {
    NodeId id = order[k];
    if (!needed[id]) continue;
    for (NodeId in : nodes_[id].inputs) needed[in] = 1;
  }
  ancestors_.clear();
  for (NodeId id : order)
    if (needed[id]) ancestors_.push_back(id);
  ancestors_of_ = output;
  ancestors_valid_ = true;
  return ancestors_;
}

void ComputationalGraph::rethrow_in_node(NodeId id, const char* pass) {
  // Keep the exception's type; add which node of the graph raised it.
  std::string where = std::string(" [in ") + pass + " of " + node_label(id) + "]";
  try {
    throw;
  } catch (const ValueError& e) {
    throw ValueError(e.what() + where);
  } catch (const TypeError& e) {
    throw TypeError(e.what() + where);
  }
}

void ComputationalGraph::require_unlatched(const std::vector<NodeId>& order, const char* pass) const {
  Latch latch = Latch::current();
  if (latch.empty()) return;
  latch.require(Computation::graph, std::string("the computational graph's ") + pass);
  for (NodeId id : order)
    if (nodes_[id].kind == NodeKind::op) latch.require(*nodes_[id].gate);
}

void ComputationalGraph::run_forward(const std::vector<NodeId>& order) {
  require_unlatched(order, "forward pass");
  Inputs in;
  for (NodeId id : order) {
    Node& n = nodes_[id];
    if (n.kind != NodeKind::op) {
      if (!n.value.defined())
        fail<ValueError>("forward: input '", n.name, "' has no value; feed it: g.forward({'", n.name, "': ...})");
      continue;
    }
    in.clear();
    for (NodeId i : n.inputs) in.push_back(nodes_[i].value);
    try {
      if (!n.shape_known) infer(n);
      n.gate->forward(n.value, in);
    } catch (const ValueError&) {
      rethrow_in_node(id, "forward");
    } catch (const TypeError&) {
      rethrow_in_node(id, "forward");
    }
    n.shape = n.value.shape();
    n.dtype = n.value.dtype();
  }
}

void ComputationalGraph::forward() {
  run_forward(topological_order());
  fresh_ = true;
}

void ComputationalGraph::forward_to(NodeId output) {
  run_forward(cached_ancestors(output));
  fresh_ = true;
}

void ComputationalGraph::run_backward(NodeId output, const Tensor* upstream, bool accumulate) {
  check_id(output, "backward");
  if (!fresh_) fail<ValueError>("backward: run forward first (", stale_reason_, ")");
  Node& out = nodes_[output];
  if (!out.value.defined()) fail<ValueError>("backward: '", out.name, "' has no value; run forward first");
  if (!is_float(out.dtype)) fail<TypeError>("backward: '", out.name, "' is ", dtype_name(out.dtype), ", not float");
  if (upstream) {
    if (upstream->dtype() != out.dtype || upstream->shape() != out.value.shape())
      fail<ValueError>("backward: the upstream gradient for '", out.name, "' must be ", dtype_name(out.dtype),
                       shape_str(out.value.shape()), " like the node, got ", dtype_name(upstream->dtype()),
                       shape_str(upstream->shape()), "; a gradient has its variable's shape");
  } else if (out.value.size() != 1) {
    fail<ValueError>("backward: '", out.name, "' has shape ", shape_str(out.value.shape()),
                     "; start backward from a single value (a loss), or pass the upstream gradient: ",
                     "g.backward(node, grad=...)");
  }
  const std::vector<NodeId>& order = cached_ancestors(output);
  require_unlatched(order, "backward pass");
  // Explicit zeroing of every gradient this pass writes; nodes outside it keep no gradient.
  std::vector<char> in_pass(nodes_.size(), 0);
  for (NodeId id : order) in_pass[id] = 1;
  for (Node& n : nodes_) {
    bool wanted = in_pass[n.id] && n.requires_grad;
    if (!wanted) {
      if (!accumulate) n.grad = Tensor();
      continue;
    }
    // Accumulating passes add to the leaves' gradients; intermediate gradients are this pass's own.
    if (accumulate && n.kind != NodeKind::op && n.grad.defined() && n.grad.shape() == n.value.shape()) {
      if (!n.grad.exclusive()) n.grad = n.grad.clone();  // never write under a NumPy view
      continue;
    }
    ensure_tensor(n.grad, n.dtype, n.value.shape());
    n.grad.fill_zero();
  }
  if (!out.requires_grad) return;  // nothing upstream of it can change
  if (upstream) out.grad.add_from(*upstream);
  else if (accumulate && out.kind != NodeKind::op) out.grad.add_from(Tensor::full(out.dtype, out.value.shape(), 1.0));
  else out.grad.fill(1.0);  // d output / d output (its gradient was just zeroed)

  Inputs in;
  InputGrads din;
  for (std::size_t k = order.size(); k-- > 0;) {
    Node& n = nodes_[order[k]];
    if (n.kind != NodeKind::op || !n.requires_grad) continue;
    in.clear();
    din.clear();
    for (std::size_t i = 0; i < n.inputs.size(); ++i) {
      Node& src = nodes_[n.inputs[i]];
      in.push_back(src.value);
      din.push_back(src.requires_grad && n.gate->differentiable(i) ? &src.grad : nullptr);
    }
    try {
      n.gate->backward(din, n.grad, in, n.value);
    } catch (const ValueError&) {
      rethrow_in_node(n.id, "backward");
    } catch (const TypeError&) {
      rethrow_in_node(n.id, "backward");
    }
  }
}

void ComputationalGraph::backward(NodeId output, bool accumulate) { run_backward(output, nullptr, accumulate); }

void ComputationalGraph::backward_with(NodeId output, const Tensor& upstream, bool accumulate) {
  run_backward(output, &upstream, accumulate);
}

void ComputationalGraph::jvp(const std::vector<std::pair<NodeId, Tensor>>& leaf_tangents) {
  if (!fresh_) fail<ValueError>("jvp: run forward first (", stale_reason_, ")");
  for (Node& n : nodes_) n.tangent = Tensor();
  for (const auto& [id, t] : leaf_tangents) {
    check_id(id, "jvp");
    Node& n = nodes_[id];
    if (n.kind == NodeKind::op) fail<ValueError>("jvp: tangents are given for leaves; ", node_label(id), " is not one");
    if (t.dtype() != n.dtype || t.shape() != n.value.shape())
      fail<ValueError>("jvp: the tangent of '", n.name, "' must be ", dtype_name(n.dtype), shape_str(n.value.shape()),
                       ", got ", dtype_name(t.dtype()), shape_str(t.shape()));
    n.tangent = t;
  }
  require_unlatched(topological_order(), "forward-mode pass");
  Tangents tin;
  Inputs in;
  for (NodeId id : topological_order()) {
    Node& n = nodes_[id];
    if (n.kind != NodeKind::op) continue;
    tin.clear();
    in.clear();
    bool any = false;
    for (NodeId i : n.inputs) {
      in.push_back(nodes_[i].value);
      tin.push_back(nodes_[i].tangent.defined() ? &nodes_[i].tangent : nullptr);
      any = any || nodes_[i].tangent.defined();
    }
    if (!any) continue;  // a zero tangent stays undefined (read as zero)
    try {
      n.gate->jvp(n.tangent, tin, in, n.value);
    } catch (const ValueError&) {
      rethrow_in_node(id, "jvp");
    } catch (const TypeError&) {
      rethrow_in_node(id, "jvp");
    }
  }
}

void ComputationalGraph::zero_grad() {
  for (Node& n : nodes_) {
    if (!n.grad.defined()) continue;
    if (n.grad.exclusive()) n.grad.fill_zero();
    else n.grad = Tensor::zeros(n.grad.dtype(), n.grad.shape());
  }
}

std::unique_ptr<ComputationalGraph> ComputationalGraph::clone() const {
  auto copy = std::make_unique<ComputationalGraph>();
  copy->nodes_.reserve(nodes_.size());
  for (const Node& n : nodes_) {
    Node c;
    c.id = n.id;
    c.name = n.name;
    c.kind = n.kind;
    if (n.gate) {
      c.gate = n.gate->clone();
      c.gate->set_attached(true);
    }
    c.inputs = n.inputs;
    c.dtype = n.dtype;
    c.shape = n.shape;
    c.shape_known = n.shape_known;
    c.requires_grad = n.requires_grad;
    // Leaf values are copied (a checker perturbs them per thread); op values are recomputed.
    if (n.kind != NodeKind::op && n.value.defined()) c.value = n.value.clone();
    copy->by_name_[c.name] = c.id;
    copy->nodes_.push_back(std::move(c));
  }
  copy->op_count_ = op_count_;
  copy->fresh_ = false;
  copy->stale_reason_ = "the graph was cloned";
  return copy;
}

}  // namespace gatelab
