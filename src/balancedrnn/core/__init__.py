"""The model and its arithmetic: the block spec and weight counting (``spec``), named configs (``configs``),
defaults and density distributions (``defaults``), masks (``masks``), the block RNN (``model``), the dense,
uniform and LSTM baselines (``baselines``), iterative maps (``itermap``) and a readable reference recurrence
(``reference``) that the tests compare the fast path against. Nothing here imports training, sweeps or the CLI.
"""
