"""gatelab: teach backpropagation and convolutional networks with a C++ computational graph.

    import gatelab as gl
    g = gl.Graph()
    x = g.input("x", -2.0); y = g.input("y", 5.0); z = g.input("z", -4.0)
    f = (x + y) * z
    g.forward(); g.backward(f)
    print(x.grad, y.grad, z.grad)      # -4.0 -4.0 3.0
"""

from gatelab import _core
from gatelab._core import LatchedError, get_num_threads, set_num_threads
from gatelab.build import build_info
from gatelab.diagnose import Diagnosis, diagnose_gradients
from gatelab.convolution import conv1d, conv2d, conv_output_size
from gatelab.functional import (add, apply, cos, divide, elu, exp, leaky_relu, log, maximum, mean, multiply,
                                negate, power, reciprocal, relu, sigmoid, sin, softplus, subtract, sum, tanh)
from gatelab.gate import Gate
from gatelab.gradcheck import GradcheckError, GradcheckReport, gradcheck
from gatelab.graph import Graph, Node
from gatelab.linalg import affine, flatten, matmul, reshape, transpose
from gatelab.losses import bce_with_logits, log_softmax, mse_loss, softmax, softmax_cross_entropy, svm_loss
from gatelab.numerical import numerical_gradient, numerical_gradient_array, rel_error
from gatelab.stepsize import StepSizeSweep, step_size_sweep
from gatelab.jacobian import check_vjp, conv2d_jacobian_memory, jacobian, jacobian_memory
from gatelab.steps import backward_steps
from gatelab.trace import Trace, lecture_example, trace
from gatelab.drawing import Drawing, draw, to_dot
from gatelab.pooling import avg_pool2d, max_pool2d
from gatelab import gates, layers
from gatelab import datasets, training

__version__ = _core.build_info()["version"]

__all__ = [
    "Graph", "Node", "Gate", "gates", "build_info", "set_num_threads", "get_num_threads",
    "numerical_gradient", "numerical_gradient_array", "rel_error", "gradcheck", "GradcheckError",
    "GradcheckReport", "LatchedError", "apply", "add", "subtract", "multiply", "divide", "maximum", "negate", "power", "exp",
    "log", "reciprocal", "sin", "cos", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "sum", "mean",
    "matmul", "affine", "transpose", "reshape", "flatten",
    "softmax", "log_softmax", "softmax_cross_entropy", "svm_loss", "mse_loss", "bce_with_logits",
    # instruments
    "diagnose_gradients", "Diagnosis", "step_size_sweep", "StepSizeSweep", "jacobian", "check_vjp",
    "jacobian_memory", "conv2d_jacobian_memory", "backward_steps", "trace", "Trace", "lecture_example",
    "to_dot", "draw", "Drawing",
    "conv1d", "conv2d", "conv_output_size", "max_pool2d", "avg_pool2d", "layers",
    "datasets", "training",
]
