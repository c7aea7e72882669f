// ComputationalGraph: nodes joined by gates, run forward in topological order and backward in
// reverse order with the chain rule.
//
// - Leaves are inputs (fed values, may change between runs), parameters (trainable values) and
//   constants (no gradient). Every other node applies a gate to earlier nodes.
// - The topological order is computed without recursion (Kahn's algorithm), so a 100,000-node
//   chain is fine, and a cycle is reported by name instead of looping.
// - backward(output) zeroes the gradients it will write, seeds d output/d output = 1 (or the
//   given upstream gradient) and runs each gate's backward, which accumulates (+=): a node used
//   by several gates receives the sum of their gradients. Calling it twice gives the same
//   gradients; pass accumulate=true to add to the leaves' previous gradients instead.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gatelab/gate.hpp"
#include "gatelab/latch.hpp"

namespace gatelab {

using NodeId = std::size_t;

enum class NodeKind { input, parameter, constant, op };

// A declared dimension that any size may fill (a batch dimension, say): shape=(None, 3).
inline constexpr std::size_t kAnyDim = std::numeric_limits<std::size_t>::max();

struct Node {
  NodeId id = 0;
  std::string name;
  NodeKind kind = NodeKind::op;
  std::shared_ptr<Gate> gate;    // op nodes only
  std::vector<NodeId> inputs;    // op nodes only
  DType dtype = DType::float64;
  Shape shape;                   // declared (leaves, may hold kAnyDim) or inferred (ops)
  bool shape_known = true;       // false when an upstream shape is only known at run time
  bool requires_grad = false;    // inputs and parameters, and every op depending on one
  Tensor value;                  // from the last forward pass (leaves: their current value)
  Tensor grad;                   // from the last backward pass; undefined if not reached
  Tensor tangent;                // from the last forward-mode pass
};

class ComputationalGraph {
 public:
  ComputationalGraph();

  // Leaves. An input may be declared without a value (then it must be fed before forward).
  NodeId add_input(const std::string& name, Tensor value);
  NodeId add_placeholder(const std::string& name, DType dtype, Shape shape);  // kAnyDim allowed
  NodeId add_parameter(const std::string& name, Tensor value);
  NodeId add_constant(Tensor value, const std::string& name = "");
  // An op node; checks the gate against its inputs' dtypes and shapes right away.
  NodeId add_op(std::shared_ptr<Gate> gate, const std::vector<NodeId>& inputs, const std::string& name = "");
  // Re-wires an op node. This can create a cycle, which forward() then reports.
  void set_inputs(NodeId op, const std::vector<NodeId>& inputs);

  // Sets a leaf's value, checking dtype and declared shape (never casts).
  void feed(NodeId leaf, Tensor value);
  void rename(NodeId node, const std::string& name);

  // Runs every node (or only the ancestors of `output`) in topological order.
  void forward();
  void forward_to(NodeId output);
  // Reverse mode from a single-element output (seed 1) or with an explicit upstream gradient.
  void backward(NodeId output, bool accumulate = false);
  void backward_with(NodeId output, const Tensor& upstream, bool accumulate = false);
  // Forward mode: tangents of every node for the given leaf tangents (others are zero).
  void jvp(const std::vector<std::pair<NodeId, Tensor>>& leaf_tangents);
  void zero_grad();

  std::size_t size() const { return nodes_.size(); }
  const Node& node(NodeId id) const;
  Node& node_mut(NodeId id);
  NodeId find(const std::string& name) const;  // throws if unknown
  bool has_name(const std::string& name) const;
  // Nodes in an order where every node follows its inputs; throws ValueError on a cycle.
  const std::vector<NodeId>& topological_order();
  // The ancestors of `output` (itself included), in topological order.
  std::vector<NodeId> ancestors(NodeId output);
  // A per-graph token: nodes from another graph are refused.
  std::uint64_t token() const { return token_; }
  // True once forward has run and nothing (feeds, structure) changed since.
  bool fresh() const { return fresh_; }

  // A deep copy: same structure and values, cloned gates (for per-thread re-runs).
  std::unique_ptr<ComputationalGraph> clone() const;

 private:
  NodeId add_leaf(const std::string& name, NodeKind kind, Tensor value);
  void check_id(NodeId id, const char* who) const;
  std::string unique_name(const std::string& wanted, const char* prefix);
  std::string node_label(NodeId id) const;  // "'f' = multiply(x, y)"
  void infer(Node& n);                      // spec of an op node from its inputs
  // Throws LatchedError when the graph, or a gate on `order`, is latched off (latch.hpp).
  void require_unlatched(const std::vector<NodeId>& order, const char* pass) const;
  void run_forward(const std::vector<NodeId>& order);
  void run_backward(NodeId output, const Tensor* upstream, bool accumulate);
  [[noreturn]] void rethrow_in_node(NodeId id, const char* pass);
  void structure_changed();  // nodes or edges changed: orders must be recomputed
  // ancestors() of the last output asked for, kept until the structure changes.
  const std::vector<NodeId>& cached_ancestors(NodeId output);

  std::vector<Node> nodes_;
  std::unordered_map<std::string, NodeId> by_name_;
  std::vector<NodeId> topo_;
  bool topo_valid_ = false;
  std::vector<NodeId> ancestors_;
  NodeId ancestors_of_ = 0;
  bool ancestors_valid_ = false;
  bool fresh_ = false;
  std::string stale_reason_ = "the graph has not been run forward yet";
  std::uint64_t token_;
  std::size_t op_count_ = 0;  // auto names v1, v2, ... like the lectures' trace tables
};

}  // namespace gatelab
