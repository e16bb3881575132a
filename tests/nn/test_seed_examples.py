"""The worked examples of the seed notes (shared/seed/000_*.txt), number by number.

1. "一个简单的神经网络例子": a two-layer network with ReLU, one forward pass,
   back-propagation and a gradient-descent update. Everything is float64 and the
   expected values are short decimals, so the tolerance is 1e-12.
2. "反卷积数学实现": a 2x2 input and a 2x2 kernel give a 3x3 output, each input
   pixel scaling the kernel and the 2x2 results summed into place. The seed's
   figures are not in the text, so the numbers x = [[1, 2], [3, 4]],
   k = [[1, 0], [2, 1]] are ours; integer-valued float64, tolerance 1e-12.
"""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from probmodels.nn import MLP, transpose_conv_output_size

TOL = 1e-12  # float64; all values are short decimals

# Seed: x = (1, 2); W1 = [[0.5, -0.5], [0.3, 0.8]], b1 = (0.1, -0.2);
# W2 = (0.2, -0.4), b2 = 0.5; y = 1; L = (y_hat - y)^2 / 2.
X = [1.0, 2.0]
W1 = [[0.5, -0.5], [0.3, 0.8]]
B1 = [0.1, -0.2]
W2 = [[0.2, -0.4]]
B2 = [0.5]
Y = 1.0


def seed_network():
    """nn.Linear layers holding the seed's parameters; weight rows are the hidden units."""
    lin1, lin2 = nn.Linear(2, 2).double(), nn.Linear(2, 1).double()
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor(W1, dtype=torch.float64))
        lin1.bias.copy_(torch.tensor(B1, dtype=torch.float64))
        lin2.weight.copy_(torch.tensor(W2, dtype=torch.float64))
        lin2.bias.copy_(torch.tensor(B2, dtype=torch.float64))
    return lin1, lin2


def close(actual, expected):
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=TOL)


def test_forward_pass():
    lin1, lin2 = seed_network()
    x = torch.tensor(X, dtype=torch.float64)
    z1 = lin1(x)
    # The seed prints z1 = (-0.9, 1.7); its own line 0.5*1 + (-0.5)*2 + 0.1 is -0.4.
    close(z1, [-0.4, 1.7])
    a1 = torch.relu(z1)
    close(a1, [0.0, 1.7])  # ReLU hides the slip: max(0, -0.9) = max(0, -0.4) = 0
    y_hat = lin2(a1)
    close(y_hat, [-0.18])
    loss = 0.5 * (y_hat - Y) ** 2
    close(loss, [0.6962])  # 1.18^2 / 2 = 0.6962 (the seed rounds it to 0.697)


def test_weight_convention_rows_are_hidden_units():
    # z1 = W1 x + b1 with W1's rows = hidden units (nn.Linear's (out, in) layout)
    # reproduces the seed's 1.7; the transposed reading x W1 + b1 would not.
    w1, x, b1 = np.array(W1), np.array(X), np.array(B1)
    np.testing.assert_allclose(w1 @ x + b1, [-0.4, 1.7], rtol=0, atol=TOL)
    np.testing.assert_allclose(x @ w1 + b1, [1.2, 0.9], rtol=0, atol=TOL)


def test_backward_pass():
    lin1, lin2 = seed_network()
    x = torch.tensor(X, dtype=torch.float64)
    z1 = lin1(x)
    z1.retain_grad()
    a1 = torch.relu(z1)
    a1.retain_grad()
    y_hat = lin2(a1)
    y_hat.retain_grad()
    loss = (0.5 * (y_hat - Y) ** 2).sum()
    loss.backward()
    close(y_hat.grad, [-1.18])  # dL/dy_hat = dL/dz2 = y_hat - y
    close(lin2.weight.grad, [[0.0, -2.006]])  # dL/dz2 * a1^T
    close(lin2.bias.grad, [-1.18])
    close(a1.grad, [-0.236, 0.472])  # W2^T dL/dz2
    close(z1.grad, [0.0, 0.472])  # ReLU'(z1) = (0, 1)
    close(lin1.weight.grad, [[0.0, 0.0], [0.472, 0.944]])  # dL/dz1 x^T
    close(lin1.bias.grad, [0.0, 0.472])


def test_gradient_descent_update():
    # The seed writes theta <- theta - alpha * dL/dtheta without a value for alpha
    # and prints no updated values; alpha = 0.1 and the numbers below are ours,
    # theta - 0.1 * gradient from test_backward_pass.
    lin1, lin2 = seed_network()
    params = [lin1.weight, lin1.bias, lin2.weight, lin2.bias]
    opt = torch.optim.SGD(params, lr=0.1)
    x = torch.tensor(X, dtype=torch.float64)
    loss = (0.5 * (lin2(torch.relu(lin1(x))) - Y) ** 2).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    close(lin1.weight.detach(), [[0.5, -0.5], [0.3 - 0.0472, 0.8 - 0.0944]])  # [[0.5, -0.5], [0.2528, 0.7056]]
    close(lin1.bias.detach(), [0.1, -0.2472])
    close(lin2.weight.detach(), [[0.2, -0.1994]])
    close(lin2.bias.detach(), [0.618])
    # New loss: z1 = (-0.4, 1.4168), y_hat = -0.1994 * 1.4168 + 0.618 = 0.33549008.
    with torch.no_grad():
        new_loss = (0.5 * (lin2(torch.relu(lin1(x))) - Y) ** 2).sum()
    close(new_loss, 0.5 * (1 - 0.33549008) ** 2)
    assert new_loss < loss


def test_mlp_block_reproduces_the_seed_network():
    net = MLP(2, (2,), 1, activation="relu").double()
    lin1, lin2 = seed_network()
    net.net[0].load_state_dict(lin1.state_dict())
    net.net[2].load_state_dict(lin2.state_dict())
    x = torch.tensor([X], dtype=torch.float64)  # (batch=1, 2)
    loss = (0.5 * (net(x) - Y) ** 2).sum()
    close(net(x).detach(), [[-0.18]])
    loss.backward()
    close(net.net[0].weight.grad, [[0.0, 0.0], [0.472, 0.944]])
    close(net.net[2].weight.grad, [[0.0, -2.006]])


def scatter_transpose_conv(x, k, stride=1):
    """Transpose convolution by hand: input pixel (i, j) adds x[i, j] * k at (i*stride, j*stride)."""
    (n, m), (kh, kw) = x.shape, k.shape
    out = np.zeros(((n - 1) * stride + kh, (m - 1) * stride + kw))
    for i in range(n):
        for j in range(m):
            out[i * stride : i * stride + kh, j * stride : j * stride + kw] += x[i, j] * k
    return out


X_T = np.array([[1.0, 2.0], [3.0, 4.0]])
K_T = np.array([[1.0, 0.0], [2.0, 1.0]])


def test_transpose_conv_2x2_input_2x2_kernel_gives_3x3():
    # The four scaled kernels 1*k, 2*k, 3*k, 4*k summed with a one-pixel shift.
    expected = np.array([[1.0, 2.0, 0.0], [5.0, 9.0, 2.0], [6.0, 11.0, 4.0]])
    np.testing.assert_allclose(scatter_transpose_conv(X_T, K_T), expected, rtol=0, atol=TOL)
    out = F.conv_transpose2d(torch.from_numpy(X_T)[None, None], torch.from_numpy(K_T)[None, None])
    np.testing.assert_allclose(out[0, 0].numpy(), expected, rtol=0, atol=TOL)
    assert transpose_conv_output_size(2, kernel_size=2) == 3


def test_transpose_conv_with_stride_2_tiles_the_scaled_kernels():
    # stride = kernel size: the 2x2 results no longer overlap, the output is kron(x, k).
    out = F.conv_transpose2d(torch.from_numpy(X_T)[None, None], torch.from_numpy(K_T)[None, None], stride=2)
    np.testing.assert_allclose(out[0, 0].numpy(), np.kron(X_T, K_T), rtol=0, atol=TOL)
    np.testing.assert_allclose(scatter_transpose_conv(X_T, K_T, stride=2), np.kron(X_T, K_T), rtol=0, atol=TOL)
    assert transpose_conv_output_size(2, kernel_size=2, stride=2) == 4


@pytest.mark.parametrize("stride", [1, 2])
def test_transpose_conv_is_the_adjoint_of_convolution(stride, rng):
    # "这个过程反过来就是卷积": <conv_transpose(x), y> = <x, conv(y)> for every x, y.
    x = torch.from_numpy(rng.normal(size=(1, 1, 3, 3)))
    k = torch.from_numpy(rng.normal(size=(1, 1, 2, 2)))
    y = torch.from_numpy(rng.normal(size=(1, 1, transpose_conv_output_size(3, 2, stride), transpose_conv_output_size(3, 2, stride))))
    lhs = (F.conv_transpose2d(x, k, stride=stride) * y).sum()
    rhs = (x * F.conv2d(y, k, stride=stride)).sum()
    torch.testing.assert_close(lhs, rhs, rtol=0, atol=1e-12)
