"""The course's functional layer API: ``out, cache = layer_forward(...)``, ``grads = layer_backward(dout, cache)``.

Drop-in replacements for an assignment's layers (CS231n's ``layers.py`` / ``fast_layers.py``
names included), backed by gatelab's C++ gates. One module per family of layers.
"""

from gatelab.layers.conv_layers import *  # noqa: F401,F403  (conv_layers.__all__)
from gatelab.layers.dense_layers import *  # noqa: F401,F403  (dense_layers.__all__)
