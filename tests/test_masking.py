"""The masked distributions (nn/masking.py) against sb3-contrib's maskable distributions and torch autograd, in float64:
log pi(a|s), entropy, mode and the hand-written gradients w.r.t. the network's logits, for Discrete, MultiDiscrete
and MultiBinary (sb3-contrib's: two-way categoricals) actions, with a row whose every action is masked."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from sb3_scratch_ppo.nn.distributions import make_distribution
from sb3_scratch_ppo.nn.masking import HUGE_NEG, make_masked_distribution
from tests.extras import require

torch.set_num_threads(1)

SPACES = {
    "discrete": spaces.Discrete(5),
    "multidiscrete": spaces.MultiDiscrete([3, 4, 2]),
    "multibinary": spaces.MultiBinary(3),
}
B = 32


def case(space, seed=0):
    """Logits, masks (each categorical keeps at least one action, but row 0 has every action masked) and
    actions sampled by sb3-contrib's distribution under those masks; the distribution itself."""
    require("sb3_contrib")
    from sb3_contrib.common.maskable.distributions import make_masked_proba_distribution

    rng = np.random.default_rng(seed)
    ref = make_masked_proba_distribution(space)
    dims = [space.n] if isinstance(space, spaces.Discrete) else ref.action_dims
    logits = rng.normal(size=(B, sum(dims))) * 2
    masks = rng.random((B, sum(dims))) < 0.6
    start = 0
    for d in dims:  # at least one valid action per categorical, as an env would give
        masks[np.arange(B), start + rng.integers(0, d, size=B)] = True
        start += d
    masks[0] = False  # every action masked: sb3-contrib's logits are all -1e8, a uniform distribution
    torch.manual_seed(seed)
    ref.proba_distribution(torch.tensor(logits))
    ref.apply_masking(masks)
    actions = ref.sample().numpy()
    return ref, logits, masks, actions


@pytest.mark.parametrize("name", list(SPACES))
def test_log_prob_entropy_mode_and_gradients_equal_sb3_contribs(name):
    space = SPACES[name]
    ref, logits, masks, actions = case(space)
    assert masks[1:].sum() < masks[1:].size  # some actions are masked

    z = torch.tensor(logits, requires_grad=True)
    ref.proba_distribution(z)
    ref.apply_masking(masks)
    w_log_prob, w_entropy = np.random.default_rng(1).normal(size=(2, B))
    ref_log_prob, ref_entropy = ref.log_prob(torch.tensor(actions)), ref.entropy()
    (ref_log_prob * torch.tensor(w_log_prob) + ref_entropy * torch.tensor(w_entropy)).sum().backward()

    ours = make_masked_distribution(space)
    assert ours.out_dim == logits.shape[1]
    log_prob, entropy, ctx = ours.log_prob_entropy(logits, None, actions, masks=masks)
    g_out, g_log_std = ours.backprop(ctx, w_log_prob, w_entropy)
    # Row 0 (every action masked): torch normalizes logits of -1e8 as -1e8 - logsumexp, rounding at 1e8's spacing in
    # float64 (1.5e-8) twice; ours subtracts the max first and is exact there. Elsewhere float64 rounding: rtol 1e-9.
    ref_lp = ref_log_prob.detach().numpy()
    np.testing.assert_allclose(log_prob[1:], ref_lp[1:], rtol=1e-9)
    np.testing.assert_allclose(log_prob[0], ref_lp[0], rtol=0, atol=4 * np.spacing(1e8))
    np.testing.assert_allclose(entropy, ref_entropy.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g_out, z.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert g_log_std is None and np.all(g_out[~masks] == 0)  # a masked logit gets no gradient
    np.testing.assert_array_equal(ours.mode(logits, None, masks=masks).reshape(actions.shape), ref.mode().numpy())

    # Negative control: the same logits without the masks give other log-probs (the masks did something).
    plain = ours.log_prob_entropy(logits, None, actions)[0]
    assert not np.allclose(plain, log_prob, rtol=1e-3)


@pytest.mark.parametrize("name", list(SPACES))
def test_without_masks_it_is_the_plain_categorical_bit_for_bit(name):
    """No masks: the plain distribution's numbers exactly (for MultiBinary, SB3's Bernoulli is another distribution,
    so the two-way categorical is compared with MultiCategorical([2] * n))."""
    space = SPACES[name]
    plain_space = spaces.MultiDiscrete([2] * space.n) if isinstance(space, spaces.MultiBinary) else space
    rng = np.random.default_rng(2)
    ours, plain = make_masked_distribution(space), make_distribution(plain_space)
    logits = rng.normal(size=(B, ours.out_dim)).astype(np.float32)
    actions = plain.sample(logits, None, np.random.default_rng(3))
    a, b = ours.log_prob_entropy(logits, None, actions), plain.log_prob_entropy(logits, None, actions)
    for x, y in zip(a[:2], b[:2], strict=True):
        np.testing.assert_array_equal(x, y)
    w = rng.normal(size=(2, B)).astype(np.float32)
    np.testing.assert_array_equal(ours.backprop(a[2], w[0], w[1])[0], plain.backprop(b[2], w[0], w[1])[0])


def test_samples_never_take_a_masked_action_and_follow_the_masked_probabilities():
    ours = make_masked_distribution(spaces.Discrete(4))
    logits = np.tile(np.array([[0.5, 2.0, -1.0, 0.0]]), (40_000, 1))
    masks = np.tile(np.array([[True, False, True, True]]), (40_000, 1))
    actions = ours.sample(logits, None, np.random.default_rng(0), masks=masks)
    counts = np.bincount(actions, minlength=4) / len(actions)
    p = np.exp([0.5, -1.0, 0.0]) / np.exp([0.5, -1.0, 0.0]).sum()
    assert counts[1] == 0
    np.testing.assert_allclose(counts[[0, 2, 3]], p, atol=0.01)  # 4 standard errors at 40,000 draws


def test_bad_masks_and_spaces_are_refused_with_what_was_expected():
    ours = make_masked_distribution(spaces.Discrete(3))
    with pytest.raises(ValueError, match=r"action_masks: expected 3 booleans per observation \(2 x 3\), got an array"):
        ours.log_prob_entropy(np.zeros((2, 3)), None, np.zeros(2, dtype=np.int64), masks=np.ones((2, 4), bool))
    with pytest.raises(NotImplementedError, match="action masking needs Discrete, MultiDiscrete or MultiBinary"):
        make_masked_distribution(spaces.Box(-1, 1, (2,)))
    assert HUGE_NEG == -1e8
