import numpy as np

def copy_rows(
    columns: np.ndarray, widths: np.ndarray, nullable: np.ndarray, zero_is_null: bool
) -> bytearray: ...
def copy_rows_lists(
    columns: np.ndarray,
    widths: np.ndarray,
    nullable: np.ndarray,
    zero_is_null: bool,
    offsets: np.ndarray,
    items: np.ndarray,
    list_widths: np.ndarray,
    list_inner: np.ndarray,
    list_zero_null: np.ndarray,
) -> bytearray: ...
def read_entry_lines(
    data: bytes | bytearray | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
