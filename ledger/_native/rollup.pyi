import numpy as np

def rollup(
    keys: np.ndarray,
    values: np.ndarray,
    signed: bool,
    key_leaf: np.ndarray,
    parent: np.ndarray,
    totals: np.ndarray,
) -> int: ...
