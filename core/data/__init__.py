"""Datasets: MovieLens-100k built in, Amazon reviews (2018 and 2023 formats), splits, export."""
