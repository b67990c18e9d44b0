"""The inverse autoregressive flow: autoregressive masks, exact log-determinant, identity start."""

from __future__ import annotations

import torch

from vae_hub.model.flow import IAF, IAFStep, made_masks


def test_made_output_d_sees_only_inputs_before_d():
    to_hidden, hidden_to_hidden, to_output = made_masks(latent_dim=5, hidden_dim=12)
    reach = (to_output @ hidden_to_hidden @ to_hidden) > 0  # (2D, D): output sees input
    for shift_or_gate in (reach[:5], reach[5:]):
        assert torch.equal(shift_or_gate, torch.ones(5, 5).tril(-1).bool())


def test_step_jacobian_is_triangular_and_its_log_det_exact():
    torch.manual_seed(0)
    step = IAFStep(latent_dim=4, context_dim=3, hidden_dim=10).double()
    torch.nn.init.normal_(step.out.weight, std=0.5)
    z, h = torch.randn(4, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda v: step(v, h)[0], z)
    assert torch.equal(jacobian.triu(1), torch.zeros(4, 4, dtype=torch.float64))
    assert torch.allclose(step(z, h)[1], torch.logdet(jacobian))


def test_an_untrained_flow_starts_near_the_identity_in_the_original_order():
    torch.manual_seed(0)
    flow = IAF(latent_dim=6, context_dim=3, steps=2, hidden_dim=16)
    z, h = torch.randn(100, 6), torch.randn(100, 3)
    out, log_det = flow(z, h)
    # Each gate starts at sigmoid(2) = 0.88 with a near-zero shift: z shrinks, order kept.
    assert torch.corrcoef(torch.stack([out[:, 0], z[:, 0]]))[0, 1] > 0.99
    assert torch.allclose(
        log_det, torch.full((100,), 2 * 6 * torch.log(torch.sigmoid(torch.tensor(2.0)))), atol=0.05
    )
