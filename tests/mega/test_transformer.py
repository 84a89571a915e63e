from __future__ import annotations

import pytest
import torch

from mocap.mega.transformer import Block


@pytest.mark.parametrize("last", [1, 5, 9])
def test_a_block_asked_for_its_last_rows_gives_those_rows_of_the_full_block(last: int) -> None:
    """MEGA's final decoder block computes only the mesh slots; they must not change (every row still attends to
    all rows, conditioning included)."""
    torch.manual_seed(0)
    block = Block(16, 4).eval()
    x = torch.randn(2, 9, 16)
    full = block(x)
    torch.testing.assert_close(block(x, last=last), full[:, -last:])
    assert not torch.allclose(block(x[:, 1:], last=last), full[:, -last:])  # the first row does matter
