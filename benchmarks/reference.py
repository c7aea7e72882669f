"""The NumPy reference: the course's "fast layers" (CS231n assignment 2, fast_layers.py), written
here in plain NumPy, plus the course's naive conv loop and its numerical-gradient loop.

Every layer is the course's functional convention: ``out, cache = *_forward(...)`` and
``grads = *_backward(dout, cache)``.

- conv: ``conv_forward_strides`` — pad, ``as_strided`` view of every window, one contiguous copy
  (the columns, (C·FH·FW, N·OH·OW)), one GEMM ``w (K, C·FH·FW) @ cols`` plus the bias. Backward:
  ``dw = dout_r @ colsᵀ``, ``dcols = w_rᵀ @ dout_r``, then col2im as FH·FW strided slice-adds (the
  NumPy form of CS231n's Cython ``col2im_6d``). Grouped convolution (not in the course) runs the
  same layer once per group, on that group's channels and filters.
- max pool: windows that tile (pool = stride, sizes divide): a reshape to (N,C,OH,ph,OW,pw);
  otherwise an ``as_strided`` im2col of the windows. Both take the argmax of each window and
  route dout to it (PyTorch's rule; CS231n's reshape path splits ties instead).
- softmax_loss: the stable softmax cross-entropy of CS231n's layers.py.
- affine: ``x.reshape(N, -1) @ w + b``.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

# ---- conv: im2col by strides + one GEMM ------------------------------------------------------


def _conv_forward_group(x, w, b, stride, pad):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    H, W = H + 2 * pad, W + 2 * pad
    out_h, out_w = (H - HH) // stride + 1, (W - WW) // stride + 1
    shape = (C, HH, WW, N, out_h, out_w)
    strides = x.itemsize * np.array((H * W, W, 1, C * H * W, stride * W, stride))
    cols = np.ascontiguousarray(as_strided(xp, shape=shape, strides=strides))
    cols.shape = (C * HH * WW, N * out_h * out_w)
    res = w.reshape(F, -1).dot(cols) + b.reshape(-1, 1)
    res.shape = (F, N, out_h, out_w)
    return np.ascontiguousarray(res.transpose(1, 0, 2, 3)), cols


def _col2im(dcols, x_shape, HH, WW, stride, pad, out_h, out_w):
    """The adjoint of the strided im2col: dcols (C, HH, WW, N, OH, OW) -> dx (N, C, H, W)."""
    N, C, H, W = x_shape
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)
    for i in range(HH):
        for j in range(WW):
            dxp[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride] += dcols[:, i, j].transpose(1, 0, 2, 3)
    return dxp[:, :, pad:pad + H, pad:pad + W] if pad else dxp


def _conv_backward_group(dout, x_shape, w, cols, stride, pad):
    F, C, HH, WW = w.shape
    _, _, out_h, out_w = dout.shape
    db = dout.sum(axis=(0, 2, 3))
    dout_r = dout.transpose(1, 0, 2, 3).reshape(F, -1)
    dw = dout_r.dot(cols.T).reshape(w.shape)
    dcols = w.reshape(F, -1).T.dot(dout_r)
    dcols.shape = (C, HH, WW, x_shape[0], out_h, out_w)
    return _col2im(dcols, x_shape, HH, WW, stride, pad, out_h, out_w), dw, db


def conv_forward_strides(x, w, b, conv_param):
    """x (N,C,H,W), w (K,C/groups,FH,FW), b (K,); conv_param: stride, pad, groups (default 1)."""
    stride, pad, groups = conv_param["stride"], conv_param["pad"], conv_param.get("groups", 1)
    if groups == 1:
        out, cols = _conv_forward_group(x, w, b, stride, pad)
        return out, (x, w, b, conv_param, [cols])
    C, K = x.shape[1], w.shape[0]
    cg, kg = C // groups, K // groups
    outs, cols = [], []
    for g in range(groups):
        o, c = _conv_forward_group(x[:, g * cg:(g + 1) * cg], w[g * kg:(g + 1) * kg], b[g * kg:(g + 1) * kg], stride, pad)
        outs.append(o)
        cols.append(c)
    return np.concatenate(outs, axis=1), (x, w, b, conv_param, cols)


def conv_backward_strides(dout, cache):
    """Returns dx, dw, db."""
    x, w, b, conv_param, cols = cache
    stride, pad, groups = conv_param["stride"], conv_param["pad"], conv_param.get("groups", 1)
    if groups == 1:
        return _conv_backward_group(dout, x.shape, w, cols[0], stride, pad)
    C, K = x.shape[1], w.shape[0]
    cg, kg = C // groups, K // groups
    shape = (x.shape[0], cg) + x.shape[2:]
    parts = [_conv_backward_group(dout[:, g * kg:(g + 1) * kg], shape, w[g * kg:(g + 1) * kg], cols[g], stride, pad)
             for g in range(groups)]
    return (np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=0),
            np.concatenate([p[2] for p in parts]))


def conv_forward_naive(x, w, b, conv_param):
    """CS231n's conv_forward_naive: four loops over (n, f, i, j), one window sum each."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    out_h, out_w = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out = np.zeros((N, F, out_h, out_w), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(out_h):
                for j in range(out_w):
                    window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


# ---- max pool: reshape or im2col, argmax routing ---------------------------------------------


def _pool_windows(x, ph, pw, stride):
    """(N, C, OH, OW, ph·pw) window view/copy and its geometry."""
    N, C, H, W = x.shape
    out_h, out_w = (H - ph) // stride + 1, (W - pw) // stride + 1
    if ph == pw == stride and H % ph == 0 and W % pw == 0:
        win = x.reshape(N, C, out_h, ph, out_w, pw).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, out_h, out_w, ph * pw)
        return win, out_h, out_w, True
    s = x.strides
    view = as_strided(x, shape=(N, C, out_h, out_w, ph, pw), strides=(s[0], s[1], stride * s[2], stride * s[3], s[2], s[3]))
    return view.reshape(N, C, out_h, out_w, ph * pw), out_h, out_w, False


def max_pool_forward_fast(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    win, out_h, out_w, tiles = _pool_windows(x, ph, pw, stride)
    arg = win.argmax(axis=4)
    out = np.take_along_axis(win, arg[..., None], axis=4)[..., 0]
    return out, (x.shape, pool_param, arg, out_h, out_w, tiles)


def max_pool_backward_fast(dout, cache):
    shape, pool_param, arg, out_h, out_w, tiles = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = shape
    dwin = np.zeros((N, C, out_h, out_w, ph * pw), dtype=dout.dtype)
    np.put_along_axis(dwin, arg[..., None], dout[..., None], axis=4)
    dwin = dwin.reshape(N, C, out_h, out_w, ph, pw)
    if tiles:
        return dwin.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H, W)
    dx = np.zeros(shape, dtype=dout.dtype)
    for i in range(ph):  # col2im: overlapping windows add
        for j in range(pw):
            dx[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride] += dwin[:, :, :, :, i, j]
    return dx


# ---- softmax cross-entropy and affine ----------------------------------------------------------


def softmax_loss(x, y):
    """CS231n's softmax_loss: mean cross-entropy of scores x (N, C) for labels y, and dx."""
    shifted = x - np.max(x, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted), axis=1, keepdims=True)
    log_probs = shifted - np.log(Z)
    probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1).dot(w) + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    x2 = x.reshape(x.shape[0], -1)
    return dout.dot(w.T).reshape(x.shape), x2.T.dot(dout), dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, x):
    return dout * (x > 0)


# ---- the course's numerical gradient loop -------------------------------------------------------


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """CS231n's gradient_check.eval_numerical_gradient_array: sum(df · ∂f/∂x) element by element,
    two calls of f per element of x (perturbed in place)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        pos = f(x).copy()
        x[ix] = oldval - h
        neg = f(x).copy()
        x[ix] = oldval
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad
