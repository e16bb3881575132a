"""The seed notes' two-layer network, forward and backward, with probmodels.nn-era torch.

Prints every intermediate value of the worked example (x = (1, 2), ReLU,
L = 1/2 (y_hat - y)^2) and its gradients.
"""

import torch

x = torch.tensor([1.0, 2.0], dtype=torch.float64)
W1 = torch.tensor([[0.5, -0.5], [0.3, 0.8]], dtype=torch.float64, requires_grad=True)
b1 = torch.tensor([0.1, -0.2], dtype=torch.float64, requires_grad=True)
W2 = torch.tensor([0.2, -0.4], dtype=torch.float64, requires_grad=True)
b2 = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
z1 = W1 @ x + b1
a1 = torch.relu(z1)
y_hat = W2 @ a1 + b2
loss = 0.5 * (y_hat - 1.0) ** 2
loss.backward()
print("z1 =", z1.tolist(), " a1 =", a1.tolist(), " y_hat =", round(y_hat.item(), 6), " L =", round(loss.item(), 6))
print("dL/dW2 =", W2.grad.tolist(), " dL/db2 =", round(b2.grad.item(), 6))
print("dL/dW1 =", W1.grad.tolist(), " dL/db1 =", b1.grad.tolist())
