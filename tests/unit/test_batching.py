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


def test_pipelined_submits_the_next_batch_before_waiting_for_this_one():
    from qstar_cli.batching import pipelined

    log, queue, tickets = [], [], iter(range(100))

    def submit(batch):
        log.append(f"submit {batch}")
        out = [next(tickets) for _ in batch]
        queue.extend(zip(out, batch))
        return out

    def collect():  # one finished request at a time, oldest first
        ticket, item = queue.pop(0)
        log.append(f"collect {item}")
        return {ticket: item * 10}

    results = []
    for out in pipelined([[1, 2], [3], [4, 5]], submit, collect):
        log.append(f"yield {out}")
        results.append(out)
    assert results == [[10, 20], [30], [40, 50]]
    # batch 2 is in the engine while batch 1 is waited for; nothing is submitted twice or lost
    assert log[:5] == ["submit [1, 2]", "submit [3]", "collect 1", "collect 2", "yield [10, 20]"]
    assert log.index("submit [4, 5]") < log.index("yield [30]")
