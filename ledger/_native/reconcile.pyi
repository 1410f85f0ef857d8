import numpy as np

def match(
    key_a: np.ndarray,
    group_a: np.ndarray,
    attr_a: np.ndarray,
    amount_a: np.ndarray,
    date_a: np.ndarray,
    key_b: np.ndarray,
    group_b: np.ndarray,
    attr_b: np.ndarray,
    amount_b: np.ndarray,
    date_b: np.ndarray,
    window: int,
    as_of: int | None,
    items: np.ndarray,
    groups: np.ndarray,
) -> tuple[int, int, int, int]: ...
