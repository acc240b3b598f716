import numpy as np
import pytest
import torch

from core.sid.rqvae import RQVAE, RQVAEConfig


def _model(dim, **kw):
    return RQVAE(dim, RQVAEConfig(**{"codebook_size": 8, "epochs": 40, "batch_size": 64, "latent_dim": 8,
                                     "hidden_dims": (32,), **kw}))


def test_training_lowers_reconstruction_and_moves_weights(clustered):
    model = _model(clustered.shape[1])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    untrained_error = model.reconstruction_error(clustered)
    model.fit(clustered)
    assert model.history[-1]["recon"] < 0.6 * model.history[0]["recon"]
    assert model.reconstruction_error(clustered) < 0.5 * untrained_error
    for name in ("encoder.0.weight", "decoder.0.weight", "codebooks"):
        assert not torch.allclose(before[name], model.state_dict()[name]), name


def test_codes_are_in_range_use_the_codebook_and_are_seeded(clustered):
    codes = _model(clustered.shape[1]).fit(clustered).encode(clustered)
    assert codes.shape == (len(clustered), 3) and codes.min() >= 0 and codes.max() < 8
    assert all(len(np.unique(codes[:, lv])) >= 6 for lv in range(3))  # k-means init + resets keep codes alive
    again = _model(clustered.shape[1]).fit(clustered).encode(clustered)
    assert np.array_equal(codes, again)
    assert not np.array_equal(codes, _model(clustered.shape[1], seed=1).fit(clustered).encode(clustered))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # expected: 64 codes, 12 clusters
def test_dead_codes_are_reseeded(clustered):
    # 12 clusters but 64 first-level codes: many codes get no items and must be re-seeded.
    model = _model(clustered.shape[1], codebook_size=64, epochs=10, dead_code_steps=5, batch_size=128)
    model.fit(clustered)
    assert model.dead_code_resets > 0
    assert model.state()["dead_code_resets"] == model.dead_code_resets


def test_last_level_distances_pick_the_chosen_code(clustered):
    model = _model(clustered.shape[1], epochs=5).fit(clustered)
    distances = model.last_level_distances(clustered)
    assert distances.shape == (len(clustered), 8)
    assert np.array_equal(distances.argmin(1), model.encode(clustered)[:, -1])
