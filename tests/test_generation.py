"""The pure generation functions behind the CLI and the demo."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vae_hub import (
    VAE,
    digit_transit,
    generate_digit,
    interpolate,
    interpolate_latents,
    reconstruct,
    sample,
)
from vae_hub.files.mnist import to_float
from vae_hub.pictures.inputs import to_grey, to_mnist


def test_sample_shapes_range_and_seeds(trained_model):
    a = sample(trained_model, 6, seed=1)
    assert a.shape == (6, 1, 28, 28) and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, sample(trained_model, 6, seed=1))
    assert not torch.equal(a, sample(trained_model, 6, seed=2))
    flat = sample(trained_model, 3, seed=5, temperature=0.0)
    assert torch.equal(flat[0], flat[1])  # temperature 0 decodes the prior mean


def test_sampling_leaves_the_global_rng_alone(trained_model):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    sample(trained_model, 4, seed=0)
    generate_digit(trained_model, 3, 2, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_generation_restores_training_mode(trained_model):
    trained_model.train()
    sample(trained_model, 2, seed=0)
    assert trained_model.training


@pytest.mark.parametrize("n", [0, -1, 10_000, 2.5, True])
def test_bad_counts_are_rejected(trained_model, n):
    with pytest.raises(ValueError, match="n must be an integer"):
        sample(trained_model, n, seed=0)


def test_bad_temperature_and_digit(trained_model):
    with pytest.raises(ValueError, match="temperature"):
        sample(trained_model, 2, seed=0, temperature=-1)
    with pytest.raises(ValueError, match="digit must be an integer 0-9"):
        generate_digit(trained_model, 10, 2, seed=0)


def test_generate_digit_uses_the_stored_class_gaussians(trained_model):
    sevens = generate_digit(trained_model, 7, 5, seed=0)
    assert sevens.shape == (5, 1, 28, 28) and sevens.min() >= 0 and sevens.max() <= 1
    assert torch.equal(sevens, generate_digit(trained_model, 7, 5, seed=0))
    mean_seven = generate_digit(trained_model, 7, 1, seed=0, temperature=0.0)
    decoded = torch.sigmoid(trained_model.decode(trained_model.prior.class_means[7:8]))
    assert torch.allclose(mean_seven, decoded, atol=1e-6)


def test_generate_digit_needs_class_gaussians():
    with pytest.raises(ValueError, match="no class Gaussians"):
        generate_digit(VAE(latent_dim=4, channels=4, hidden_dim=8), 3, 2, seed=0)


def test_interpolate_latents_reaches_both_ends():
    a, b = torch.randn(5), torch.randn(5)
    for method in ("linear", "slerp"):
        path = interpolate_latents(a, b, 7, method)
        assert path.shape == (7, 5)
        assert torch.allclose(path[0], a, atol=1e-6) and torch.allclose(path[-1], b, atol=1e-6)
    slerp = interpolate_latents(torch.tensor([1.0, 0]), torch.tensor([0, 1.0]), 3, "slerp")
    assert torch.allclose(slerp.norm(dim=1), torch.ones(3))  # stays on the circle
    parallel = interpolate_latents(torch.ones(3), 2 * torch.ones(3), 3, "slerp")
    assert torch.allclose(parallel[1], 1.5 * torch.ones(3))  # falls back to linear
    with pytest.raises(ValueError, match="method"):
        interpolate_latents(a, b, 3, "cubic")
    with pytest.raises(ValueError, match="steps"):
        interpolate_latents(a, b, 1)


def test_interpolate_images_starts_and_ends_at_their_reconstructions(trained_model, test_split):
    x = to_float(test_split.images[:2])  # (2, 1, 28, 28)
    frames = interpolate(trained_model, x[0], x[1], steps=5, method="slerp")
    assert frames.shape == (5, 1, 28, 28)
    with torch.inference_mode():
        ends = torch.sigmoid(trained_model(x)[0])
    assert torch.allclose(frames[0], ends[0], atol=1e-5)
    assert torch.allclose(frames[-1], ends[1], atol=1e-5)


def test_digit_transit_goes_between_class_means(trained_model):
    frames = digit_transit(trained_model, 1, 7, steps=4)
    assert frames.shape == (4, 1, 28, 28)
    assert torch.allclose(frames[0], generate_digit(trained_model, 1, 1, 0, temperature=0)[0])
    assert torch.allclose(frames[-1], generate_digit(trained_model, 7, 1, 0, temperature=0)[0])


def test_reconstruct_an_mnist_tensor(trained_model, test_split):
    x = to_float(test_split.images[:1])[0]
    result = reconstruct(trained_model, x)
    assert torch.equal(result.input, x)
    assert result.reconstruction.shape == (1, 28, 28)
    assert result.latent_mean.shape == (4,)
    assert torch.allclose(result.latent_mean, trained_model.encode(x[None]).mu[0], atol=1e-6)


def _photo_of(digit: np.ndarray, size=200, dark_on_light=True, mode="L") -> Image.Image:
    """An MNIST digit drawn large, black-on-white by default, like a user's upload."""
    img = Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR)
    if dark_on_light:
        img = Image.fromarray(255 - np.asarray(img))
    return img.convert(mode)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "1"])
def test_any_image_format_becomes_an_mnist_like_digit(test_split, mode):
    digit = test_split.images[0].numpy()
    prepared = to_mnist(_photo_of(digit, mode=mode))
    assert prepared.shape == (1, 28, 28) and prepared.dtype == torch.float32
    assert prepared.min() >= 0 and prepared.max() == pytest.approx(1.0, abs=0.02)
    original = torch.from_numpy(digit).float() / 255
    assert torch.corrcoef(torch.stack([prepared.flatten(), original.flatten()]))[0, 1] > 0.8


def test_white_on_black_and_black_on_white_give_the_same_input(test_split):
    digit = test_split.images[3].numpy()
    a = to_mnist(_photo_of(digit, dark_on_light=True))
    b = to_mnist(_photo_of(digit, dark_on_light=False))
    assert torch.allclose(a, b, atol=0.02)


def test_an_mnist_digit_is_nearly_unchanged(test_split):
    digit = test_split.images[5]
    prepared = to_mnist(digit.numpy())
    assert (prepared[0] - digit.float() / 255).abs().mean() < 0.05


def test_transparent_background_sketch_is_read_by_its_strokes():
    rgba = np.zeros((100, 100, 4), dtype=np.uint8)
    rgba[20:80, 45:55] = (0, 0, 0, 255)  # a black "1" on a transparent canvas
    prepared = to_mnist(Image.fromarray(rgba, "RGBA"))
    assert prepared[0, :, 14].max() > 0.9 and prepared[0, 14, 0] == 0
    assert prepared.sum() > 10


def test_the_centre_of_mass_lands_in_the_middle():
    img = np.zeros((300, 300), dtype=np.uint8)
    img[10:60, 200:290] = 255  # a blob in a corner
    prepared = to_mnist(img)[0]
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    total = prepared.sum()
    assert (
        abs((prepared * ys).sum() / total - 14) < 1 and abs((prepared * xs).sum() / total - 14) < 1
    )


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((50, 50), dtype=np.uint8), "blank"),
        (np.full((50, 50), 255, dtype=np.uint8), "blank"),
        (np.zeros((1, 1), dtype=np.uint8), "1x1"),
        (np.zeros((10, 10, 4), dtype=np.uint8), "transparent"),
        (np.zeros((5000, 5000), dtype=np.uint8), "at most"),
        (np.full((30, 30), np.nan), "NaN"),
        (np.zeros((30, 30, 7)), "shaped"),
        ("digit.png", "expected an image"),
    ],
)
def test_bad_images_raise_value_errors(image, message):
    with pytest.raises(ValueError, match=message):
        to_mnist(image)


def test_sixteen_bit_images_keep_their_scale():
    img = np.zeros((40, 40), dtype=np.uint16)
    img[10:30, 18:22] = 65535
    assert to_grey(img).max() == 1.0
    assert to_mnist(Image.fromarray(img)).max() == pytest.approx(1.0, abs=0.02)
