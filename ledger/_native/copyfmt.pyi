import numpy as np

def copy_rows(
    columns: np.ndarray, widths: np.ndarray, nullable: np.ndarray, zero_is_null: bool
) -> bytearray: ...
