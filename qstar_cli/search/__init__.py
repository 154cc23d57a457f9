"""Search methods: greedy, self-consistency, best-of-N, beam, MCTS and A*, one file each.

They talk to the policy and value models only through `base.SearchEnv`'s batched calls and import
neither torch nor vLLM, so they are tested exactly on toy graphs.
"""
