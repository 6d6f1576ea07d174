"""Iterative maps: one block matrix of functions applied repeatedly to a stacked state (SPEC §9).

The state is a list of named groups, e.g. ``z = [x; h1; h2; y]``. A block ``(out, in)`` is a function from
the ``in`` group's vector to the ``out`` group's vector: a dense linear map, a masked sparse linear map
(:class:`~balancedrnn.core.masks.MaskedBlock`, the same masks and kernels as the block RNN), the identity, or
any ``torch.nn.Module``. One iteration updates every group at once from the previous state::

    z_t[o] = act_o( sum over blocks (o, i) of block(z'_{t-1}[i]) + b_o )

where ``z'_{t-1}`` is ``z_{t-1}`` with the input group overwritten by data when data is inserted at
iteration ``t`` (SPEC §2: ``h_{t+1}`` reads ``x_{t+1}`` and ``h_t``). Semantics chosen here:

* Simultaneous update: every group reads the previous state, never a value computed in the same iteration.
* A group with no incoming block gets ``act(bias)``; without a bias that is ``act(0)`` (zero for relu, tanh
  and identity). This is the plain block-matrix rule (an empty row of the matrix), no special case.
* The input group is computed like any other group; inserting data overwrites it *before* the iteration
  reads it. ``from_mlp`` puts the identity on ``(x, x)`` so a static input inserted once persists; the block
  RNN form has no ``(x, x)`` block, so the x part of the returned states is zero (it is overwritten by the
  next input anyway).
* Initial state: zeros unless ``initial`` is given.

An MLP with L linear layers is block-lower-triangular (``from_mlp``): after L iterations its output group
equals ``mlp(x)`` whatever the initial hidden values. :meth:`IterativeMap.fill` puts masked sparse blocks in
the empty places, at a density or at the density that makes the total trainable weights hit a budget,
moving along the continuum from the MLP toward a general RNN. The block RNN of SPEC §2 is the 2-row instance
(``from_block_rnn``). All weight counting goes through :func:`balancedrnn.core.spec.exact_count`.

A transformer encoder is the third member (``from_transformer``). Two small generalisations carry it, and
leave MLPs and RNNs unchanged:

* ``tokens=True``: every group holds a token sequence ``(batch, T, size)`` instead of a vector. Linear and
  masked blocks act on each token; other blocks (attention) see the whole sequence.
* A block may be a *sum* of functions (:class:`BlockSum`), e.g. ``identity + attention`` for a residual
  connection, so a sub-layer of the encoder stays one block and one iteration.

The group's activation is its "post" function, applied to the sum of its blocks: a LayerNorm for a post-norm
layer (and the encoder's final norm on the last group), so blocks added by :meth:`IterativeMap.fill` feed the
residual sum before it is normalised.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal, Union

import torch
from torch import nn

from ..kernels.dispatch import KernelChoice
from .masks import MaskedBlock, MaskMethod
from .model import BlockRNN, get_activation
from .spec import DEFAULT_INIT, SpecError, check_budget, check_init, check_seed, check_size, exact_count

Pair = tuple[str, str]
"""A block's key: (output group, input group)."""

BlockLike = Union[MaskedBlock, nn.Module, float, Literal["dense", "identity"], Sequence["BlockLike"]]
"""What a block may be given as: a MaskedBlock, any module (nn.Linear, nn.Identity, ...), a float density (a
new masked sparse block), ``"dense"`` (a new dense linear map), ``"identity"``, or a list of these whose
outputs add up (a :class:`BlockSum`, e.g. ``["identity", attention]`` for a residual connection)."""

Activation = Union[str, Callable[[torch.Tensor], torch.Tensor]]
"""An activation by name (see :data:`balancedrnn.core.model.ACTIVATIONS`) or any callable / module."""

InputMode = Literal["first", "every"]

_ACTIVATION_NAMES: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.ReLU, "relu"),
    (nn.Tanh, "tanh"),
    (nn.Sigmoid, "sigmoid"),
    (nn.Identity, "identity"),
)
"""Activation modules that map to a named activation in ``from_mlp`` (others are kept as modules)."""


class GroupBias(nn.Module):
    """The bias of one group: a slice of a parameter, so a group can share part of a larger bias vector
    (the block RNN keeps one ``dh + dy`` vector)."""

    def __init__(self, param: nn.Parameter, start: int = 0, stop: int | None = None) -> None:
        super().__init__()
        self.param = param
        self.start = int(start)
        self.stop = int(param.numel() if stop is None else stop)

    def forward(self) -> torch.Tensor:
        return self.param[self.start : self.stop]

    @property
    def size(self) -> int:
        return self.stop - self.start

    def extra_repr(self) -> str:
        return f"size={self.size}"


class BlockSum(nn.Module):
    """A block that is a sum of functions of the same input group, e.g. ``identity + attention`` (a residual
    connection). Its terms are checked and counted like blocks of their own."""

    def __init__(self, terms: Iterable[nn.Module]) -> None:
        super().__init__()
        self.terms = nn.ModuleList(terms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        op = _op_of(self)
        return x.new_zeros(()) if op is None else op(x)  # None: every term is an empty mask (adds nothing)


class SubLayer(nn.Module):
    """One sub-layer of a transformer encoder layer as a block function from ``size`` to ``size`` features:
    the encoder's own modules (shared, or copied with the encoder), called exactly as the encoder calls them.
    ``norm`` is the pre-norm LayerNorm (None for post-norm, whose norm is the group's activation)."""

    size: int

    @property
    def nnz(self) -> int:
        """Trainable weight-matrix entries (biases and norm parameters are parameters, not weights, as for an
        nn.Linear block)."""
        return sum(int(w.numel()) for w in self.weight_matrices() if w.requires_grad)

    def weight_matrices(self) -> list[torch.Tensor]:
        raise NotImplementedError


class SelfAttention(SubLayer):
    """``dropout(attn(n, n, n))`` with ``n = norm(x)`` (or ``x``): the encoder layer's ``_sa_block``.
    ``mask`` is a fixed (T, T) attention mask shared by every sample (None: full attention)."""

    def __init__(self, attn: nn.MultiheadAttention, norm: nn.Module | None, dropout: nn.Module,
                 mask: torch.Tensor | None = None) -> None:
        super().__init__()
        self.attn, self.norm, self.dropout = attn, norm, dropout
        self.size = int(attn.embed_dim)
        self.register_buffer("mask", mask, persistent=False)

    def weight_matrices(self) -> list[torch.Tensor]:
        return [self.attn.in_proj_weight, self.attn.out_proj.weight]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mask is not None and x.dim() >= 2 and x.shape[-2] != self.mask.shape[0]:
            raise ValueError(f"this attention mask is for {self.mask.shape[0]} tokens; the input has {x.shape[-2]}")
        n = x if self.norm is None else self.norm(x)
        return self.dropout(self.attn(n, n, n, attn_mask=self.mask, need_weights=False)[0])

    def extra_repr(self) -> str:
        return f"size={self.size}, heads={self.attn.num_heads}, masked={self.mask is not None}"


class FeedForward(SubLayer):
    """``dropout2(linear2(dropout(activation(linear1(n)))))`` with ``n = norm(x)`` (or ``x``): the encoder
    layer's ``_ff_block``, with its own activation (any callable)."""

    def __init__(self, linear1: nn.Linear, activation: Callable[[torch.Tensor], torch.Tensor], linear2: nn.Linear,
                 norm: nn.Module | None, dropout: nn.Module, dropout2: nn.Module) -> None:
        super().__init__()
        self.linear1, self.linear2, self.norm = linear1, linear2, norm
        self.dropout, self.dropout2 = dropout, dropout2
        self.activation = activation  # a module is registered as a child, a function kept as is
        self.size = int(linear1.in_features)

    def weight_matrices(self) -> list[torch.Tensor]:
        return [self.linear1.weight, self.linear2.weight]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x if self.norm is None else self.norm(x)
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(n)))))


def _op_of(block: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A block as a function of its input group, with a MaskedBlock's dense or sparse matrix built once (call
    this once per forward pass, not once per iteration). Masked blocks act on the last dimension, so on each
    token of a ``(batch, T, size)`` group. None for a block with no effect (an empty mask)."""
    if isinstance(block, MaskedBlock):
        if block.nnz == 0:
            return None
        op, rows = block.operator(), block.rows

        def masked(x: torch.Tensor) -> torch.Tensor:
            if x.dim() == 2:
                return op(x)
            return op(x.reshape(-1, x.shape[-1])).view(*x.shape[:-1], rows)

        return masked
    if isinstance(block, BlockSum):
        ops = [o for o in (_op_of(t) for t in block.terms) if o is not None]
        if not ops:
            return None

        def total(x: torch.Tensor) -> torch.Tensor:
            out = ops[0](x)
            for o in ops[1:]:
                out = out + o(x)
            return out

        return total
    return block


def _key(pair: Pair) -> str:
    return f"{pair[0]}<-{pair[1]}"


def _fmt(pair: Pair) -> str:
    return f"({pair[0]}, {pair[1]})"


def _is_linear(block: nn.Module) -> bool:
    """Whether a block acts on each sample independently and linearly (its input products can be batched
    over time steps)."""
    if isinstance(block, BlockSum):
        return all(_is_linear(t) for t in block.terms)
    return isinstance(block, (MaskedBlock, nn.Linear, nn.Identity))


def _block_nnz(block: nn.Module) -> int:
    """Trainable weights of a block: mask entries of a MaskedBlock, the weight matrix of an nn.Linear (its
    bias, if any, counts as a bias), the weight matrices of a transformer :class:`SubLayer`, the sum over the
    terms of a :class:`BlockSum`, 0 for the identity, all trainable parameter entries of another module."""
    if isinstance(block, (MaskedBlock, SubLayer)):
        return block.nnz
    if isinstance(block, BlockSum):
        return sum(_block_nnz(t) for t in block.terms)
    if isinstance(block, nn.Linear):
        return int(block.weight.numel()) if block.weight.requires_grad else 0
    return sum(int(p.numel()) for p in block.parameters() if p.requires_grad)


def _probe_shape(block: nn.Module, cols: int, lead: tuple[int, ...] = (2,)) -> tuple[int, ...]:
    """Output shape of a generic module on a ``lead + (cols,)`` zero input, in eval mode and without
    gradients, so the probe changes no state (no running statistics, no dropout draws)."""
    ref = next(iter(block.parameters()), None)
    if ref is None:
        ref = next(iter(block.buffers()), None)
    device = ref.device if ref is not None else torch.device("cpu")
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.get_default_dtype()
    modes = [(m, m.training) for m in block.modules()]  # each part's own mode (one may be frozen in eval)
    block.eval()
    try:
        with torch.no_grad():
            out = block(torch.zeros(*lead, cols, device=device, dtype=dtype))
    finally:
        for m, training in modes:
            m.training = training
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"returned {type(out).__name__}, not a tensor")
    return tuple(out.shape)


class IterativeMap(nn.Module):
    """A block matrix of functions over named state groups, iterated (SPEC §9).

    Parameters
    ----------
    groups:
        Ordered mapping of group name to size, e.g. ``{"x": 784, "h1": 64, "y": 10}``; the order is the
        layout of the stacked state.
    blocks:
        Mapping of ``(output group, input group)`` to a :data:`BlockLike`. Blocks that do not fit their groups
        or name an unknown group raise a one-line ValueError naming the pair.
    activation:
        One activation for every group, or a mapping of group name to activation (missing groups: identity).
    bias:
        ``True`` (a zero-initialised bias on every group except the input group), ``False``, an iterable of
        group names, or a mapping of group name to an initial tensor / :class:`GroupBias`. New biases take the
        dtype and device of the blocks (as blocks drawn by the map do).
    input, output:
        The group data is written to (default: the first) and the group returned (default: the last).
    iterations:
        Default number of iterations for a static input (e.g. the depth of an MLP); None = must be given.
    seed, init, mask_method, kernel:
        How blocks given as a density or ``"dense"`` are drawn: values N(init) from ``torch.Generator(seed)``
        in the order of ``blocks``.
    tokens:
        ``True``: every group holds a token sequence ``(batch, T, size)``; a static input is ``(batch, T, dx)``
        and a sequence of them ``(batch, steps, T, dx)``. Linear and masked blocks act on each token.
    """

    def __init__(
        self,
        groups: Mapping[str, int],
        blocks: Mapping[Pair, BlockLike],
        activation: Activation | Mapping[str, Activation] = "identity",
        bias: bool | Iterable[str] | Mapping[str, torch.Tensor | GroupBias] = False,
        input: str | None = None,
        output: str | None = None,
        iterations: int | None = None,
        seed: int = 0,
        init: tuple[float, float] = DEFAULT_INIT,
        mask_method: MaskMethod = "exact",
        kernel: KernelChoice = "auto",
        tokens: bool = False,
    ) -> None:
        super().__init__()
        self.tokens = bool(tokens)
        if not isinstance(groups, Mapping) or not groups:
            raise ValueError("groups must be a non-empty mapping of group name to size")
        self.groups: dict[str, int] = {}
        for name, size in groups.items():
            if not isinstance(name, str) or not name or "." in name or "<-" in name:
                raise ValueError(f"group name {name!r} must be a non-empty string without '.' or '<-'")
            self.groups[name] = check_size(f"size of group {name}", size)
        names = list(self.groups)
        self.input = names[0] if input is None else input
        self.output = names[-1] if output is None else output
        for role, g in (("input", self.input), ("output", self.output)):
            if g not in self.groups:
                raise ValueError(f"{role} group {g!r} is not one of the groups {', '.join(names)}")
        self.iterations = None if iterations is None else check_size("iterations", iterations)
        self.init = check_init("init", init)
        self.mask_method: MaskMethod = mask_method
        self._generator = torch.Generator().manual_seed(check_seed("seed", seed))  # int(3.7) would be seed 3
        self.blocks = nn.ModuleDict()
        self.pairs: list[Pair] = []
        for pair, spec in blocks.items():
            self.add_block(pair, spec, kernel=kernel)
        self._set_activations(activation)
        self._set_biases(bias)

    # ------------------------------------------------------------------------------- construction
    def _check_pair(self, pair: object) -> Pair:
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise ValueError(f"block key {pair!r} must be an (output group, input group) pair of names")
        for g in pair:
            if g not in self.groups:
                raise ValueError(
                    f"block {_fmt(pair)}: unknown group {g!r}; groups are {', '.join(self.groups)}"  # type: ignore[arg-type]
                )
        return pair  # type: ignore[return-value]

    def _make_block(self, pair: Pair, spec: BlockLike, kernel: KernelChoice) -> nn.Module:
        """Turn a block description into a module, checking it maps the input group's size to the output's."""
        rows, cols = self.groups[pair[0]], self.groups[pair[1]]
        want = f"{rows}x{cols} ({pair[0]} has {rows}, {pair[1]} has {cols})"
        mean, std = self.init
        if isinstance(spec, str):
            if spec == "identity":
                spec = nn.Identity()
            elif spec == "dense":
                lin = nn.utils.skip_init(nn.Linear, cols, rows, bias=False)  # no draw from the global RNG
                with torch.no_grad():
                    lin.weight.copy_(torch.randn(rows, cols, generator=self._generator) * std + mean)
                return lin
            else:
                raise ValueError(f"block {_fmt(pair)}: unknown block kind {spec!r}; expected 'dense', 'identity', a density or a module")
        if isinstance(spec, (list, tuple)):
            if not spec:
                raise ValueError(f"block {_fmt(pair)}: a sum of functions needs at least one term")
            return BlockSum(self._make_block(pair, t, kernel) for t in spec)
        if isinstance(spec, BlockSum):
            for t in spec.terms:
                self._make_block(pair, t, kernel)
            return spec
        if isinstance(spec, SubLayer):
            if rows != cols or spec.size != rows:
                raise ValueError(f"block {_fmt(pair)}: a {type(spec).__name__} of size {spec.size} does not fit; expected {want}")
            return spec
        if isinstance(spec, bool):
            raise ValueError(f"block {_fmt(pair)}: expected a density, 'dense', 'identity' or a module, got {spec!r}")
        if isinstance(spec, (int, float)):
            p = float(spec)
            if not math.isfinite(p) or not 0.0 <= p <= 1.0:
                raise ValueError(f"block {_fmt(pair)}: density must be a finite number in [0, 1], got {spec!r}")
            return MaskedBlock.random(rows, cols, p, self._generator, mean, std, self.mask_method).set_kernel(kernel)
        if isinstance(spec, MaskedBlock):
            if (spec.rows, spec.cols) != (rows, cols):
                raise ValueError(f"block {_fmt(pair)}: a {spec.rows}x{spec.cols} MaskedBlock does not fit; expected {want}")
            return spec
        if isinstance(spec, nn.Identity):
            if rows != cols:
                raise ValueError(f"block {_fmt(pair)}: the identity needs equal sizes, but {pair[0]} has {rows} and {pair[1]} has {cols}")
            return spec
        if isinstance(spec, nn.Linear):
            if (spec.out_features, spec.in_features) != (rows, cols):
                raise ValueError(
                    f"block {_fmt(pair)}: an nn.Linear({spec.in_features}, {spec.out_features}) is "
                    f"{spec.out_features}x{spec.in_features}; expected {want}"
                )
            return spec
        if isinstance(spec, nn.Module):
            lead = (2, 3) if self.tokens else (2,)
            try:
                shape = _probe_shape(spec, cols, lead)
            except Exception as e:  # noqa: BLE001 - any failure on a correctly sized input means a misfit
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise ValueError(f"block {_fmt(pair)}: {type(spec).__name__} fails on input of size {cols} ({msg})") from None
            if shape != (*lead, rows):
                what = "(batch, T, " if self.tokens else "(batch, "
                raise ValueError(
                    f"block {_fmt(pair)}: {type(spec).__name__} maps {what}{cols}) to {shape[len(lead):] or '()'} per "
                    f"{'sequence' if self.tokens else 'sample'}; expected size {rows} ({pair[0]})"
                )
            return spec
        raise ValueError(f"block {_fmt(pair)}: expected a density, 'dense', 'identity' or a module, got {type(spec).__name__}")

    def add_block(self, pair: Pair, block: BlockLike, kernel: KernelChoice = "auto") -> nn.Module:
        """Add (or replace) the block at ``pair``; returns the module now in place."""
        pair = self._check_pair(pair)
        module = self._make_block(pair, block, kernel)
        if not isinstance(block, nn.Module):  # freshly drawn: follow the map's device and dtype
            module = module.to(**self._like())
        self.blocks[_key(pair)] = module
        if pair not in self.pairs:
            self.pairs.append(pair)
        return module

    def _set_activations(self, activation: Activation | Mapping[str, Activation]) -> None:
        if isinstance(activation, Mapping):
            for g in activation:
                if g not in self.groups:
                    raise ValueError(f"activation given for unknown group {g!r}; groups are {', '.join(self.groups)}")
            chosen = {g: activation.get(g, "identity") for g in self.groups}
        else:
            chosen = {g: activation for g in self.groups}
        self.activation_names: dict[str, str] = {}
        self._acts: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
        self.activation_modules = nn.ModuleDict()
        for g, a in chosen.items():
            if isinstance(a, str):
                self._acts[g] = get_activation(a)
                self.activation_names[g] = a
            elif callable(a):
                if isinstance(a, nn.Module):
                    self.activation_modules[g] = a
                self._acts[g] = a
                self.activation_names[g] = getattr(a, "__name__", type(a).__name__)
            else:
                raise ValueError(f"activation of group {g} must be a name or a callable, got {a!r}")

    def _set_biases(self, bias: bool | Iterable[str] | Mapping[str, torch.Tensor | GroupBias]) -> None:
        self.biases = nn.ModuleDict()
        if bias is True:
            bias = [g for g in self.groups if g != self.input]
        elif bias is False:
            bias = []
        elif isinstance(bias, str):  # one group name, not an iterable of one-letter names
            bias = [bias]
        items = bias.items() if isinstance(bias, Mapping) else ((g, None) for g in bias)
        for g, value in items:
            if g not in self.groups:
                raise ValueError(f"bias given for unknown group {g!r}; groups are {', '.join(self.groups)}")
            size = self.groups[g]
            if isinstance(value, GroupBias):
                gb = value
            else:
                like = self._like()  # the map's dtype and device, as freshly drawn blocks get
                t = torch.as_tensor(0.0 if value is None else value)
                dtype = like.get("dtype") or (t.dtype if t.is_floating_point() else torch.get_default_dtype())
                t = t.to(dtype=dtype, device=like.get("device", t.device))  # type: ignore[arg-type]
                if value is None:
                    t = t.new_zeros(size)
                gb = GroupBias(value if isinstance(value, nn.Parameter) else nn.Parameter(t.detach().clone().flatten()))
            if gb.size != size:
                raise ValueError(f"bias of group {g} has {gb.size} entries; the group has {size}")
            self.biases[g] = gb

    # ---------------------------------------------------------------------------- conversions
    @classmethod
    def from_mlp(cls, mlp: nn.Sequential, share: bool = True) -> IterativeMap:
        """The block-lower-triangular map of an ``nn.Sequential`` of ``nn.Linear`` layers and activations.

        Groups ``x, h1, ..., h{L-1}, y``; layer k's weight is the dense block (group k, group k-1), its bias
        the group's bias, the modules after it (ReLU, Tanh, Dropout, ...) the group's activation, and the
        identity sits on (x, x). After ``L`` iterations (the default) the output equals ``mlp(x)`` whatever the
        initial hidden values. Normalisation with running statistics (BatchNorm) is refused: the map computes every
        group at every iteration, so it would update them L times per pass. ``share=True`` uses the MLP's own weight and bias tensors (training one trains
        the other); ``share=False`` copies them.
        """
        flat: list[nn.Module] = []

        def walk(m: nn.Module) -> None:
            for child in m.children() if isinstance(m, nn.Sequential) else [m]:
                if isinstance(child, nn.Sequential):
                    walk(child)
                else:
                    flat.append(child)

        walk(mlp)
        if not flat or not isinstance(flat[0], nn.Linear):
            first = type(flat[0]).__name__ if flat else "nothing"
            raise ValueError(f"from_mlp needs an nn.Sequential that starts with nn.Linear, got {first} first")
        layers: list[tuple[nn.Linear, list[nn.Module]]] = []
        for m in flat:
            if isinstance(m, nn.Linear):
                layers.append((m, []))
            else:
                layers[-1][1].append(m)
        for k, (_, after) in enumerate(layers, start=1):
            for m in after:
                if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
                    raise ValueError(
                        f"from_mlp: layer {k} is followed by {type(m).__name__} with running statistics, which a map "
                        "would update at every iteration, not once per pass; build it with track_running_stats=False"
                    )
        for k in range(1, len(layers)):
            prev, cur = layers[k - 1][0], layers[k][0]
            if cur.in_features != prev.out_features:
                raise ValueError(
                    f"from_mlp: layer {k + 1} takes {cur.in_features} inputs but layer {k} gives {prev.out_features}"
                )
        n = len(layers)
        names = ["x"] + [f"h{k}" for k in range(1, n)] + ["y"]
        groups = {"x": layers[0][0].in_features}
        blocks: dict[Pair, BlockLike] = {("x", "x"): "identity"}
        acts: dict[str, Activation] = {}
        biases: dict[str, torch.Tensor | GroupBias] = {}
        for k, (lin, after) in enumerate(layers, start=1):
            out, inp = names[k], names[k - 1]
            groups[out] = lin.out_features
            dense = nn.utils.skip_init(nn.Linear, lin.in_features, lin.out_features, bias=False)  # no global RNG draw
            dense.weight = lin.weight if share else nn.Parameter(lin.weight.detach().clone())
            blocks[(out, inp)] = dense
            if lin.bias is not None:
                biases[out] = GroupBias(lin.bias if share else nn.Parameter(lin.bias.detach().clone()))
            acts[out] = _activation_of(after, share)
        return cls(groups, blocks, activation=acts, bias=biases, input="x", output="y", iterations=n)

    @classmethod
    def from_block_rnn(cls, model: BlockRNN, share: bool = True) -> IterativeMap:
        """The 2-row instance of a :class:`BlockRNN` (SPEC §2): groups x, h, y and its six MaskedBlocks.

        ``share=True`` uses the model's own MaskedBlock objects and bias vector; ``share=False`` deep copies
        (same masks and values). ``map(x, return_sequence=True)`` equals ``model(x)`` for a (batch, T, dx)
        sequence. Only ``readout="lagged"`` is expressible: with ``readout="current"`` the y-row reads
        h_{t+1}, computed in the same step, which a simultaneous update cannot do (ValueError).
        """
        if not isinstance(model, BlockRNN):
            raise ValueError(f"from_block_rnn needs a BlockRNN, got {type(model).__name__} (see from_mlp and from_transformer)")
        if model.readout != "lagged":
            raise ValueError(
                f"from_block_rnn supports readout='lagged' only (got {model.readout!r}): with 'current' the y-row "
                "reads h_(t+1) of the same step, which a simultaneous-update map cannot express"
            )
        src = model if share else copy.deepcopy(model)
        blocks: dict[Pair, BlockLike] = {(name[0], name[1]): src.blocks[name] for name in src.blocks}
        bias = {"h": GroupBias(src.bias, 0, model.dh), "y": GroupBias(src.bias, model.dh, model.dh + model.dy)}
        return cls(
            {"x": model.dx, "h": model.dh, "y": model.dy},
            blocks,
            activation={"h": model.activation, "y": "identity"},
            bias=bias,
            input="x",
            output="y",
            mask_method=model.mask_method,
        )

    @classmethod
    def from_transformer(
        cls,
        encoder: nn.TransformerEncoder,
        *,
        mask: torch.Tensor | None = None,
        src_key_padding_mask: torch.Tensor | None = None,
        is_causal: bool | None = None,
        share: bool = True,
    ) -> IterativeMap:
        """The block-lower-triangular token map of an ``nn.TransformerEncoder`` (batch_first; pre- or post-norm
        layers; any heads, layers, activation; with or without the encoder's final ``norm``).

        Groups ``x, a1, f1, ..., aL, fL`` each hold a (batch, T, d) token sequence: ``a_l`` is layer l's result
        after self-attention, ``f_l`` after its feed-forward block. Each sub-layer is one block, the sum of the
        identity (the residual connection) and the sub-layer's function, in (a_l, f_{l-1}) and (f_l, a_l),
        with the identity on (x, x) so the input persists:

        * pre-norm: ``a_l = f_{l-1} + Attn(LN1(f_{l-1}))`` and ``f_l = a_l + FF(LN2(a_l))``;
        * post-norm: the same sums, each followed by its LayerNorm as the group's activation.

        The final norm is the activation of ``fL`` (after LN2 for post-norm). After ``2 L`` iterations (the
        default) the output ``fL`` equals ``encoder(x, mask=mask)`` whatever the initial hidden values.
        ``weights`` counts the weight matrices (attention in/out projections, both feed-forward linears), as
        for an MLP; biases and norm parameters are parameters, so ``parameters_count`` equals the encoder's.

        Supported: the evaluation-mode encoder (or training mode with every dropout at 0; the map's modules
        then keep the encoder's mode), and a fixed ``mask``: a (T, T) bool or float attention mask shared by
        every sample (e.g. ``nn.Transformer.generate_square_subsequent_mask(T)``), which fixes the sequence
        length. Refused with a one-line ValueError: any other module, a layer that is not exactly
        ``nn.TransformerEncoderLayer``, ``batch_first=False``, dropout on in training mode,
        ``src_key_padding_mask`` (it differs per sample, a map's blocks do not), per-head (3-D) masks and
        ``is_causal=True`` (a hint; pass the causal mask itself as ``mask``). ``share=True`` uses the
        encoder's own modules (training one trains the other); ``share=False`` deep copies them.
        """
        if not isinstance(encoder, nn.TransformerEncoder):
            raise ValueError(
                f"from_transformer needs an nn.TransformerEncoder, got {type(encoder).__name__} "
                "(decoders and custom modules are not supported; wrap one layer as nn.TransformerEncoder(layer, 1))"
            )
        if src_key_padding_mask is not None:
            raise ValueError("from_transformer: src_key_padding_mask is not supported: padding differs per sample, "
                             "while a map's blocks are the same for every sample")
        if is_causal:
            raise ValueError("from_transformer: is_causal=True is not supported (it is only a hint); pass the causal "
                             "mask itself, mask=nn.Transformer.generate_square_subsequent_mask(T)")
        if mask is not None:
            if not isinstance(mask, torch.Tensor) or mask.dim() != 2 or mask.shape[0] != mask.shape[1]:
                shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
                raise ValueError(f"from_transformer: mask must be one (T, T) attention mask shared by every sample, got {shape}")
            if mask.dtype != torch.bool and not mask.is_floating_point():
                raise ValueError(f"from_transformer: mask must be bool or floating point, got {mask.dtype}")
        layers = list(encoder.layers)
        if not layers:
            raise ValueError("from_transformer: the encoder has no layers")
        for k, layer in enumerate(layers, start=1):
            if type(layer) is not nn.TransformerEncoderLayer:
                raise ValueError(f"from_transformer: layer {k} is a {type(layer).__name__}, not an "
                                 "nn.TransformerEncoderLayer (a custom forward cannot be read)")
            att = layer.self_attn
            if not att.batch_first:
                raise ValueError(f"from_transformer: layer {k} has batch_first=False; build it with batch_first=True")
            if not att._qkv_same_embed_dim or att.bias_k is not None:
                raise ValueError(f"from_transformer: layer {k}'s attention has separate q/k/v sizes or add_bias_kv, "
                                 "which nn.TransformerEncoderLayer does not build")
            if any(m.training for m in layer.modules()):
                p = max([att.dropout] + [d.p for d in (layer.dropout, layer.dropout1, layer.dropout2)])
                if p > 0:
                    raise ValueError(f"from_transformer: layer {k} is in training mode with dropout {p:g}; call "
                                     "encoder.eval() first (the map reproduces the evaluation-mode encoder)")
        src = encoder if share else copy.deepcopy(encoder)
        d = int(layers[0].self_attn.embed_dim)
        names = ["x"] + [f"{kind}{k}" for k in range(1, len(layers) + 1) for kind in ("a", "f")]
        groups = {g: d for g in names}
        blocks: dict[Pair, BlockLike] = {("x", "x"): "identity"}
        acts: dict[str, Activation] = {}
        for k, layer in enumerate(src.layers):
            pre = bool(layer.norm_first)
            a, f, before = names[2 * k + 1], names[2 * k + 2], names[2 * k]
            attn = SelfAttention(layer.self_attn, layer.norm1 if pre else None, layer.dropout1, mask)
            ff = FeedForward(layer.linear1, layer.activation, layer.linear2, layer.norm2 if pre else None,
                             layer.dropout, layer.dropout2)
            blocks[(a, before)] = ["identity", attn]
            blocks[(f, a)] = ["identity", ff]
            acts[a] = "identity" if pre else layer.norm1
            acts[f] = "identity" if pre else layer.norm2
        if src.norm is not None:
            last = names[-1]
            acts[last] = src.norm if acts[last] == "identity" else nn.Sequential(acts[last], src.norm)  # type: ignore[arg-type]
        return cls(groups, blocks, activation=acts, input="x", output=names[-1], iterations=2 * len(layers), tokens=True)

    # ------------------------------------------------------------------------------- counting
    def block(self, out: str, inp: str) -> nn.Module:
        """The module of block ``(out, inp)``."""
        pair = self._check_pair((out, inp))
        if pair not in self.pairs:
            raise KeyError(f"no block {_fmt(pair)}")
        return self.blocks[_key(pair)]

    def nnz(self) -> dict[Pair, int]:
        """Trainable weights per block (see :func:`_block_nnz` for what counts)."""
        return {pair: _block_nnz(self.blocks[_key(pair)]) for pair in self.pairs}

    @property
    def weights(self) -> int:
        """Total trainable weights (non-zeros of all blocks; what a budget counts)."""
        return sum(self.nnz().values())

    @property
    def parameters_count(self) -> int:
        """All trainable parameter entries (weights, biases, parameters of activation modules), each shared
        tensor counted once."""
        return sum(int(p.numel()) for p in self.parameters() if p.requires_grad)

    def set_kernel(self, choice: KernelChoice) -> IterativeMap:
        """Dense, sparse or auto kernel for every MaskedBlock."""
        for m in self.blocks.values():
            if isinstance(m, MaskedBlock):
                m.set_kernel(choice)
        return self

    def group_bias(self, group: str) -> torch.Tensor | None:
        """The bias of a group (None if it has none)."""
        return self.biases[group]() if group in self.biases else None

    def offsets(self) -> dict[str, slice]:
        """Where each group sits in the stacked state vector."""
        out, start = {}, 0
        for g, size in self.groups.items():
            out[g] = slice(start, start + size)
            start += size
        return out

    def block_matrix(self) -> torch.Tensor:
        """The dense (total x total) matrix over the stacked state, rows = outputs, zeros outside the blocks
        and their masks. Only for linear blocks (MaskedBlock, nn.Linear, identity, sums of these); their own
        biases are left out."""
        off = self.offsets()
        total = sum(self.groups.values())
        ref = next(iter(self.parameters()), None)
        w = torch.zeros(total, total, dtype=ref.dtype if ref is not None else None, device=ref.device if ref is not None else None)

        def matrix(m: nn.Module, pair: Pair) -> torch.Tensor:
            if isinstance(m, MaskedBlock):
                return m.dense()
            if isinstance(m, nn.Linear):
                return m.weight
            if isinstance(m, nn.Identity):
                return torch.eye(self.groups[pair[0]], dtype=w.dtype, device=w.device)
            if isinstance(m, BlockSum) and len(m.terms):
                return sum(matrix(t, pair) for t in m.terms)  # type: ignore[return-value]
            raise ValueError(f"block {_fmt(pair)} is a {type(m).__name__}, not a linear map")

        for pair in self.pairs:
            part = matrix(self.blocks[_key(pair)], pair)
            w = w.index_put((torch.arange(off[pair[0]].start, off[pair[0]].stop, device=w.device)[:, None],
                             torch.arange(off[pair[1]].start, off[pair[1]].stop, device=w.device)[None, :]), part,
                            accumulate=True)
        return w

    def summary(self) -> dict[str, object]:
        """Sizes, blocks and counts, for run records."""
        return {
            "kind": "itermap",
            "groups": dict(self.groups),
            "input": self.input,
            "output": self.output,
            "blocks": {_key(p): type(self.blocks[_key(p)]).__name__ for p in self.pairs},
            "nnz": {_key(p): n for p, n in self.nnz().items()},
            "weights": self.weights,
            "parameters": self.parameters_count,
            "activation": dict(self.activation_names),
        }

    def extra_repr(self) -> str:
        return f"groups={self.groups}, input={self.input}, output={self.output}, weights={self.weights}"

    # ------------------------------------------------------------------------------ filling
    def empty_pairs(self, include_input: bool = False) -> list[Pair]:
        """The (out, in) pairs without a block among the computed groups (every group except the input):
        these are what :meth:`fill` fills. ``include_input=True`` adds the pairs (computed group, input group)
        too (skip connections from the data). The input group's own row is never filled: it holds data."""
        computed = [g for g in self.groups if g != self.input]
        columns = ([self.input] if include_input else []) + computed
        return [(o, i) for o in computed for i in columns if (o, i) not in self.pairs]

    def fill(
        self,
        density: float | Mapping[Pair, float] | None = None,
        *,
        budget: int | None = None,
        pairs: Iterable[Pair] | None = None,
        include_input: bool = False,
        seed: int = 0,
        init: tuple[float, float] | None = None,
        method: MaskMethod = "exact",
        kernel: KernelChoice = "auto",
    ) -> IterativeMap:
        """Put new masked sparse blocks in empty places (in place; returns self).

        ``pairs`` defaults to the keys of a per-pair ``density``, else to :meth:`empty_pairs`. Give either ``density`` (one for all, or per pair) or
        ``budget``: the total trainable weights of the whole map after filling. With a budget, one common
        density is solved over the new blocks (counts by :func:`~balancedrnn.core.spec.exact_count`), then the
        entries left by rounding are handed out one per block, so with exact-count masks the map holds
        exactly ``budget`` weights (each block's density is within one entry of the common one). A budget
        below the current weights or above what full blocks hold is a one-line SpecError naming the range.
        Values are N(init) (default: the map's init) from ``torch.Generator(seed)`` in the order of ``pairs``.
        """
        if pairs is None:
            pairs = list(density) if isinstance(density, Mapping) else self.empty_pairs(include_input)
        todo = [self._check_pair(p) for p in pairs]
        for p in todo:
            if p in self.pairs:
                raise ValueError(f"block {_fmt(p)} is already present; fill only puts blocks in empty places")
        if (density is None) == (budget is None):
            raise ValueError("give exactly one of density and budget")
        shapes = {p: (self.groups[p[0]], self.groups[p[1]]) for p in todo}
        if budget is not None:
            counts = fill_counts(shapes, budget, self.weights)
            densities = {p: counts[p] / (shapes[p][0] * shapes[p][1]) for p in todo}
        elif isinstance(density, Mapping):
            unknown = [p for p in density if p not in shapes]
            if unknown:
                raise ValueError(f"density given for block {_fmt(unknown[0])}, which is not among the pairs to fill")
            missing = [p for p in todo if p not in density]
            if missing:
                raise ValueError(f"no density given for block {_fmt(missing[0])}: give one for every pair to fill "
                                 "(a block left out would be added empty and could not be filled later)")
            densities = {p: float(density[p]) for p in todo}
        else:
            densities = {p: float(density) for p in todo}  # type: ignore[arg-type]
        for p, d in densities.items():
            if not math.isfinite(d) or not 0.0 <= d <= 1.0:
                raise ValueError(f"block {_fmt(p)}: density must be a finite number in [0, 1], got {d!r}")
        gen = torch.Generator().manual_seed(check_seed("seed", seed))
        mean, std = self.init if init is None else check_init("init", init)
        for p in todo:
            rows, cols = shapes[p]
            blk = MaskedBlock.random(rows, cols, densities[p], gen, mean, std, method).set_kernel(kernel)
            self.add_block(p, blk.to(**self._like()))
        return self

    def _like(self) -> dict[str, torch.device | torch.dtype]:
        """Device and dtype of the map's first floating-point parameter (none: keep torch's defaults), for
        freshly drawn blocks."""
        ref = next((p for p in self.parameters() if p.is_floating_point()), None)
        return {} if ref is None else {"device": ref.device, "dtype": ref.dtype}

    # ------------------------------------------------------------------------------- iterating
    def _ops(self) -> dict[Pair, Callable[[torch.Tensor], torch.Tensor]]:
        """Each non-empty block as a function of its input group's batch, with dense weights built once
        per call (not once per iteration)."""
        ops: dict[Pair, Callable[[torch.Tensor], torch.Tensor]] = {}
        for pair in self.pairs:
            op = _op_of(self.blocks[_key(pair)])
            if op is not None:
                ops[pair] = op
        return ops

    def initial_state(
        self,
        batch: int | tuple[int, ...],
        initial: Mapping[str, torch.Tensor] | torch.Tensor | None = None,
        like: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The state before the first iteration: zeros, or ``initial`` (a mapping of group to (batch, size) or
        (size,) tensors, missing groups zero, or a stacked (batch, total) / (total,) tensor). ``batch`` is the
        batch size, or the leading shape ``(batch, T)`` of a token map (whose initial values may be
        (batch, T, size), (T, size) or (size,))."""
        lead = (batch,) if isinstance(batch, int) else tuple(int(b) for b in batch)
        ref = like if like is not None else next(iter(self.parameters()), torch.zeros(()))
        state = {g: ref.new_zeros(*lead, n) for g, n in self.groups.items()}
        if initial is None:
            return state
        shape = ", ".join(str(d) for d in lead)
        if isinstance(initial, torch.Tensor):
            total = sum(self.groups.values())
            if initial.shape[-1] != total or initial.dim() > len(lead) + 1:
                raise ValueError(f"a stacked initial state must have shape ({shape}, {total}) or ({total},), got {tuple(initial.shape)}")
            initial = {g: initial[..., sl] for g, sl in self.offsets().items()}
        for g, v in initial.items():
            if g not in self.groups:
                raise ValueError(f"initial value given for unknown group {g!r}; groups are {', '.join(self.groups)}")
            v = torch.as_tensor(v, dtype=ref.dtype, device=ref.device)
            want = (*lead, self.groups[g])
            fits = 1 <= v.dim() <= len(want) and all(a in (1, b) for a, b in zip(reversed(v.shape), reversed(want)))
            if not fits or v.shape[-1] != self.groups[g]:
                raise ValueError(f"initial value of group {g} must have shape ({shape}, {self.groups[g]}) or ({self.groups[g]},), got {tuple(v.shape)}")
            state[g] = v.expand(want).clone()
        return state

    def step(
        self,
        state: Mapping[str, torch.Tensor],
        data: torch.Tensor | None = None,
        _ops: Mapping[Pair, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        _pre: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """One simultaneous iteration. ``data`` (batch, input size), if given, overwrites the input group
        before the iteration reads it. Returns the new state (a dict of group to (batch, size))."""
        ops = self._ops() if _ops is None else _ops
        read = dict(state)
        if data is not None:
            read[self.input] = data
        lead = read[self.input].shape[:-1]
        new: dict[str, torch.Tensor] = {}
        for g, size in self.groups.items():
            total = None if _pre is None else _pre.get(g)
            for pair, op in ops.items():
                if pair[0] != g or (_pre is not None and pair[1] == self.input and _is_linear(self.blocks[_key(pair)])):
                    continue
                term = op(read[pair[1]])
                total = term if total is None else total + term
            b = self.group_bias(g)
            if total is None:
                total = read[self.input].new_zeros(*lead, size) + (0 if b is None else b)
            elif b is not None:
                total = total + b
            new[g] = self._acts[g](total)
        return new

    def _input_parts(
        self, u: torch.Tensor, ops: Mapping[Pair, Callable[[torch.Tensor], torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        """Sum of the linear blocks reading the input group, for a batch of inputs in one product per block
        (as the block RNN does for all time steps before its loop)."""
        parts: dict[str, torch.Tensor] = {}
        for pair, op in ops.items():
            if pair[1] == self.input and _is_linear(self.blocks[_key(pair)]):
                t = op(u)
                parts[pair[0]] = t if pair[0] not in parts else parts[pair[0]] + t
        return parts

    def states(
        self,
        x: torch.Tensor,
        iterations: int | None = None,
        initial: Mapping[str, torch.Tensor] | torch.Tensor | None = None,
        input_mode: InputMode | None = None,
    ) -> list[dict[str, torch.Tensor]]:
        """The whole state after every iteration (a list of dicts of group to (batch, size)).

        ``x`` (a tensor; an array is converted to the map's dtype) is (batch, dx), a static input inserted at the
        first iteration only (``input_mode="first"``, the default) or at every one (``"every"``); ``iterations``
        defaults to the map's ``iterations``.
        Or ``x`` is (batch, T, dx), a sequence: one iteration per step with its input inserted; ``iterations``
        defaults to T and may exceed it (later iterations insert nothing). A token map (``tokens=True``) takes
        one more dimension: a static (batch, T, dx) token sequence, or a sequence of them (batch, steps, T, dx);
        its states are (batch, T, size).
        """
        if not isinstance(x, torch.Tensor):  # a NumPy array or nested lists, as a BlockRNN takes them
            try:
                x = torch.as_tensor(x, **self._like())  # type: ignore[arg-type]
            except (TypeError, ValueError, RuntimeError) as e:
                raise ValueError(f"input must be a tensor or array of numbers, got {type(x).__name__}: {e}") from None
        dx = self.groups[self.input]
        static = 3 if self.tokens else 2
        if x.dim() not in (static, static + 1) or x.shape[-1] != dx:
            if self.tokens:
                raise ValueError(f"input must have shape (batch, T, {dx}) or (batch, steps, T, {dx}), got {tuple(x.shape)}")
            raise ValueError(f"input must have shape (batch, {dx}) or (batch, T, {dx}), got {tuple(x.shape)}")
        ops = self._ops()
        if x.dim() == static + 1:
            if input_mode not in (None, "every"):
                raise ValueError(f"a sequence input is inserted at every step; input_mode={input_mode!r} does not apply")
            steps = x.shape[1]
            n = steps if iterations is None else check_size("iterations", iterations)
            if n < steps:
                raise ValueError(f"iterations={n} is fewer than the {steps} steps of the sequence")
            pre_all = self._input_parts(x, ops)  # linear blocks act on the last dimension: all steps at once
            inserts = [(x[:, t], {g: v[:, t] for g, v in pre_all.items()}) for t in range(steps)]
            lead = (x.shape[0], *x.shape[2:-1])
        else:
            mode = "first" if input_mode is None else input_mode
            if mode not in ("first", "every"):
                raise ValueError(f"unknown input_mode {mode!r}; expected 'first' or 'every'")
            n = self.iterations if iterations is None else check_size("iterations", iterations)
            if n is None:
                raise ValueError("this map has no default number of iterations; pass iterations=")
            if mode == "every":
                pre = self._input_parts(x, ops)
                inserts = [(x, pre)] * n
            else:
                inserts = [(x, self._input_parts(x, ops))]
            lead = tuple(x.shape[:-1])
        batch = lead[0] if len(lead) == 1 else lead
        state = self.initial_state(batch, initial, like=x)
        out = []
        for t in range(n):
            data, pre = inserts[t] if t < len(inserts) else (None, None)
            state = self.step(state, data, _ops=ops, _pre=pre)
            out.append(state)
        return out

    def forward(
        self,
        x: torch.Tensor,
        iterations: int | None = None,
        initial: Mapping[str, torch.Tensor] | torch.Tensor | None = None,
        input_mode: InputMode | None = None,
        return_sequence: bool = False,
    ) -> torch.Tensor:
        """The output group after the last iteration, (batch, dy) ((batch, T, dy) for a token map); with
        ``return_sequence=True`` after every iteration, (batch, iterations, dy) (for a sequence input this is
        what ``BlockRNN`` returns). Arguments as in :meth:`states`."""
        seq = self.states(x, iterations, initial, input_mode)
        if return_sequence:
            return torch.stack([s[self.output] for s in seq], 1)
        return seq[-1][self.output]

    def stack(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """A state dict as the stacked (batch, total) vector, in group order."""
        return torch.cat([state[g] for g in self.groups], -1)


def _activation_of(modules: list[nn.Module], share: bool) -> Activation:
    """The activation of a group from the modules following its linear layer: a name when it is one known
    activation, else the modules composed (copied unless shared)."""
    if not modules:
        return "identity"
    if len(modules) == 1:
        m = modules[0]
        for cls_, name in _ACTIVATION_NAMES:
            if type(m) is cls_:
                return name
        if type(m) is nn.GELU and getattr(m, "approximate", "none") == "none":
            return "gelu"
    mods = modules if share else [copy.deepcopy(m) for m in modules]
    return mods[0] if len(mods) == 1 else nn.Sequential(*mods)


def fill_counts(shapes: Mapping[Pair, tuple[int, int]], budget: float, existing: int = 0) -> dict[Pair, int]:
    """Entries per new block so that ``existing`` plus the new blocks hold exactly ``budget`` weights.

    Finds the largest common density p with ``sum(exact_count(p, rows, cols)) <= budget - existing`` by
    bisection, then gives the few entries left by rounding one each to the blocks whose count falls
    furthest below p * rows * cols. Raises SpecError (one line) when the budget is out of reach.
    """
    target = check_budget(budget)
    if not float(target).is_integer():
        raise SpecError(f"budget must be a whole number of weights, got {budget!r}")
    remaining = int(target) - int(existing)
    capacity = sum(r * c for r, c in shapes.values())
    if not shapes:
        raise SpecError("there are no empty blocks to fill")
    if remaining < 0 or remaining > capacity:
        raise SpecError(
            f"budget {int(target)} is out of reach: the map holds {existing} weights and the blocks to fill hold "
            f"at most {capacity} more, so the budget must lie in [{existing}, {existing + capacity}]"
        )

    def total(p: float) -> int:
        return sum(exact_count(p, r, c) for r, c in shapes.values())

    lo, hi = 0.0, 1.0
    if total(hi) <= remaining:
        lo = hi
    for _ in range(100):
        if lo == hi:
            break
        mid = 0.5 * (lo + hi)
        if total(mid) <= remaining:
            lo = mid
        else:
            hi = mid
    counts = {p: exact_count(lo, r, c) for p, (r, c) in shapes.items()}
    left = remaining - sum(counts.values())
    order = sorted(shapes, key=lambda p: -(lo * shapes[p][0] * shapes[p][1] - counts[p]))
    while left > 0:
        for p in order:
            if left and counts[p] < shapes[p][0] * shapes[p][1]:
                counts[p] += 1
                left -= 1
    return counts
