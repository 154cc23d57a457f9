"""The one length-batching and padding helper (qstar_cli/batching.py), by hand."""

from qstar_cli.batching import by_length, padded


def test_batches_go_shortest_first_and_cover_every_index_once():
    seqs = [[1, 2, 3], [1], [1, 2, 3, 4], [1, 2]]
    assert list(by_length(seqs, 2)) == [[1, 3], [0, 2]]
    assert list(by_length(seqs, 3, indices=[0, 2, 3])) == [[3, 0, 2]]  # only these, still by length
    assert list(by_length([], 4)) == []


def test_right_and_left_padding_with_their_masks():
    assert padded([[5, 6, 7], [8]], pad=0) == ([[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]])
    assert padded([[5, 6, 7], [8]], pad=0, left=True) == ([[5, 6, 7], [0, 0, 8]], [[1, 1, 1], [0, 0, 1]])
