import numpy as np

def post_batch(
    keys: np.ndarray,
    offsets: np.ndarray,
    accounts: np.ndarray,
    amounts: np.ndarray,
    dims: np.ndarray,
    flags: np.ndarray,
    dates: np.ndarray,
    pending_keys: np.ndarray,
    books: np.ndarray,
    extra: np.ndarray,
    period_closed: np.ndarray,
    account_table: np.ndarray,
    entry_table: np.ndarray,
    pending_table: np.ndarray,
    pending_accounts: np.ndarray,
    pending_amounts: np.ndarray,
    counters: np.ndarray,
    groups_count: int,
    lines_max: int,
    codes: np.ndarray,
) -> None: ...
def rehash_entries(old: np.ndarray, new: np.ndarray) -> None: ...
def rehash_pending(old: np.ndarray, new: np.ndarray) -> None: ...
def fingerprints(
    offsets: np.ndarray,
    accounts: np.ndarray,
    amounts: np.ndarray,
    dims: np.ndarray,
    flags: np.ndarray,
    dates: np.ndarray,
    pending_keys: np.ndarray,
    books: np.ndarray,
    extra: np.ndarray,
    account_table: np.ndarray,
    out: np.ndarray,
) -> None: ...
def small_rows(
    keys: np.ndarray,
    offsets: np.ndarray,
    accounts: np.ndarray,
    amounts: np.ndarray,
    dims: np.ndarray,
    flags: np.ndarray,
    dates: np.ndarray,
    pending_keys: np.ndarray,
    books: np.ndarray,
    extra: np.ndarray,
    account_table: np.ndarray,
    codes: np.ndarray,
    prev_hash: bytes,
    batch_id: int,
    texts_digest: bytes,
) -> (
    tuple[
        list[tuple[int, int, int, int, int, int, int, int]],
        list[tuple[int, int, int, int, int, int, int, int, int]],
        bytes,
        bytes,
        tuple[list[int], list[int], list[int]],
    ]
    | None
): ...
def sha256(data: bytes) -> bytes: ...
def mapped_buffer(size: int) -> bytearray: ...
def codes_table() -> dict[str, int]: ...
