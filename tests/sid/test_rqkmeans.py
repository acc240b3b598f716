import numpy as np

from core.sid.rqkmeans import RQKMeans, RQKMeansConfig


def test_residual_error_falls_with_every_level(clustered):
    model = RQKMeans(RQKMeansConfig(levels=3, codebook_size=8, n_init=2)).fit(clustered)
    errors = model.residual_errors
    start = float((clustered ** 2).sum(1).mean())
    assert start > errors[0] > errors[1] > errors[2]
    # encode/decode reproduce the fitted assignment, so the reconstruction error is the last residual
    assert np.isclose(model.reconstruction_error(clustered), errors[-1], rtol=1e-4)


def test_codes_shape_distances_and_seed(clustered):
    model = RQKMeans(RQKMeansConfig(levels=2, codebook_size=6, n_init=1)).fit(clustered)
    codes = model.encode(clustered)
    assert codes.shape == (len(clustered), 2) and codes.max() < 6
    assert np.array_equal(model.last_level_distances(clustered).argmin(1), codes[:, -1])
    again = RQKMeans(RQKMeansConfig(levels=2, codebook_size=6, n_init=1)).fit(clustered).encode(clustered)
    assert np.array_equal(codes, again)
