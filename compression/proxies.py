"""Zero-shot (training-free) proxies of a network's accuracy, and their rank correlations.

The proxies follow the zero-shot NAS survey (Li et al., "Zero-Shot Neural Architecture Search:
Challenges, Solutions, and Opportunities", arXiv 2307.01998, IEEE TPAMI 2024) and the reference
implementations it evaluates (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021, github.com/SamsungLabs/zero-cost-nas; Mellor et al., "Neural Architecture Search
without Training", ICML 2021; Tanaka et al., "Pruning neural networks without any data by
iteratively conserving synaptic flow", NeurIPS 2020).

Here they score a *compressed variant* (a plain single-output ``nn.Module`` whose weights are
already pruned / dequantized) so that the library can advertise an accuracy estimate before
anyone has evaluated the variant. :func:`compute_proxies` returns, per variant:

=============  =====================================================================================
key            definition
=============  =====================================================================================
synflow        natural log of ``sum |theta * dR/dtheta|`` with ``R = sum(f_|theta|(1))``: all weights
               replaced by their absolute values, an all-ones input of the batch-1 shape, float64.
               BatchNorm is kept in eval mode as a positive per-channel affine map (|gamma|, |beta|,
               running mean 0, running variance kept), so the network stays a positive map as in
               Tanaka et al. The *log* is stored because the raw score of a deep net overflows
               easily; log is monotone, so rank correlations are those of the raw score.
naswot         ``slogdet(K)`` of the binary activation-code kernel
               ``K = C C^T + (1 - C)(1 - C)^T`` on the minibatch, ``C`` = ``output > 0`` of every
               ReLU-like module (ReLU, ReLU6, LeakyReLU, GELU, SiLU, Hardswish), eval mode.
grad_norm      sum over Conv/Linear layers of the L2 norm of ``dL/dW`` (cross-entropy on the
               minibatch), as in Abdelfattah et al.'s ``grad_norm``.
snip           ``sum |W * dL/dW|`` over Conv/Linear weights (Lee et al., ICLR 2019, as used in the
               survey).
jacob_cov      Mellor et al. (v1): ``-sum(log(l + k) + 1/(l + k))`` over the eigenvalues ``l`` of the
               correlation matrix of the per-sample input Jacobians, ``k = 1e-5``.
params         number of non-zero parameters (so unstructured pruning lowers it).
flops          multiply-accumulates (MACs) of one forward pass at batch size 1, counted by hooks on
               Conv1d/Conv2d/Linear (dense: zeros in a weight still cost a MAC).
=============  =====================================================================================

Gradient proxies use the model in train mode (batch statistics, as in the reference code) on a
deep copy, so the caller's model, weights and BatchNorm buffers are never changed. Zen-score is
not implemented (it needs the pre-pooling feature map of a specific architecture family).

Every value is a finite Python float; a proxy that cannot be finite raises :class:`ProxyError`.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

#: Names of the proxies :func:`compute_proxies` returns, in this order.
PROXY_NAMES = ("synflow", "naswot", "grad_norm", "snip", "jacob_cov", "params", "flops")

#: Module types whose "output > 0" pattern forms NASWOT's binary activation code.
_RELU_LIKE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Hardswish)
#: Module types that carry the MACs and the weights scored by grad_norm / snip.
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Linear)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


class ProxyError(ValueError):
    """A proxy could not be computed (bad input shapes, no ReLU-like module, non-finite score)."""


def _check_inputs(model: Any, x: Any, y: Any) -> None:
    if not isinstance(model, nn.Module):
        raise ProxyError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ProxyError(
            f"x, y: expected torch.Tensor, got {type(x).__name__} and {type(y).__name__}"
        )
    if x.shape[0] < 2:
        raise ProxyError(f"x: need a minibatch of at least 2 samples, got shape {tuple(x.shape)}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ProxyError(
            f"y: expected class indices of shape ({x.shape[0]},), got {tuple(y.shape)}"
        )


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    if not isinstance(out, torch.Tensor):
        raise ProxyError(
            f"model output: expected one logits tensor (a plain single-output module; use "
            f"compression.models.exit_model for a multi-exit model), got {type(out).__name__}"
        )
    return out


def _weighted_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, _WEIGHTED)]


def count_nonzero_params(model: nn.Module) -> int:
    """Number of non-zero entries over all parameters of ``model``."""
    return int(sum(int(torch.count_nonzero(p.detach())) for p in model.parameters()))


def count_macs(model: nn.Module, x1: torch.Tensor) -> int:
    """Dense multiply-accumulates of one forward pass of ``model`` on ``x1`` (batch size 1).

    Counts Conv1d/Conv2d (``out elements * in_channels/groups * kernel size``) and Linear
    (``out elements * in_features``) through forward hooks; elementwise ops, pooling and
    normalisation are not counted (the usual convention of torchvision's model cards).
    """
    total = 0

    def hook(mod: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features
        else:  # conv
            k = int(np.prod(mod.kernel_size))
            total += out.numel() * (mod.in_channels // mod.groups) * k

    handles = [m.register_forward_hook(hook) for m in _weighted_modules(model)]
    try:
        with torch.no_grad():
            _logits(model, x1)
    finally:
        for h in handles:
            h.remove()
    return int(total)


def synflow_log(model: nn.Module, x1: torch.Tensor) -> float:
    """Natural log of the SynFlow score of ``model`` (a deep copy is scored) at ``x1``'s shape."""
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
        for m in net.modules():
            if isinstance(m, _BATCHNORMS) and m.running_mean is not None:
                m.running_mean.zero_()
    net.zero_grad(set_to_none=True)
    ones = torch.ones_like(x1[:1], dtype=torch.float64)
    torch.sum(_logits(net, ones)).backward()
    terms = [
        torch.sum(torch.abs(p * p.grad)).item() for p in net.parameters() if p.grad is not None
    ]
    score = math.fsum(terms)
    if not math.isfinite(score):
        raise ProxyError(f"synflow: score overflowed float64 (got {score}); the network is too deep")
    if score <= 0.0:
        raise ProxyError("synflow: score is 0 (every path from input to output is cut)")
    return math.log(score)


def naswot(model: nn.Module, x: torch.Tensor) -> float:
    """NASWOT score: ``slogdet`` of the binary activation-code kernel on the minibatch ``x``.

    A singular kernel (two inputs with identical codes, dead units) has log-determinant ``-inf``;
    then ``1e-3`` is added to the diagonal so the score stays finite and lowest-ranked.
    """
    net = copy.deepcopy(model).eval()
    codes: list[torch.Tensor] = []

    def hook(_mod: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        codes.append((out.detach() > 0).reshape(out.shape[0], -1).to(torch.float64))

    relus = [m for m in net.modules() if isinstance(m, _RELU_LIKE)]
    if not relus:
        raise ProxyError(
            "naswot: the model has no ReLU-like module (nn.ReLU/ReLU6/LeakyReLU/GELU/SiLU/"
            "Hardswish); functional activations cannot be hooked"
        )
    handles = [m.register_forward_hook(hook) for m in relus]
    try:
        with torch.no_grad():
            _logits(net, x)
    finally:
        for h in handles:
            h.remove()
    c = torch.cat(codes, dim=1)
    k = c @ c.T + (1.0 - c) @ (1.0 - c).T
    sign, logdet = torch.linalg.slogdet(k)
    if sign.item() <= 0 or not math.isfinite(logdet.item()):
        sign, logdet = torch.linalg.slogdet(k + 1e-3 * torch.eye(k.shape[0], dtype=k.dtype))
    value = float(logdet.item())
    if not math.isfinite(value):
        raise ProxyError(f"naswot: log-determinant is not finite ({value})")
    return value


def _grad_proxies(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(grad_norm, snip) from one cross-entropy backward pass on a train-mode deep copy."""
    net = copy.deepcopy(model).train()
    net.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(_logits(net, x), y)
    loss.backward()
    gnorm = 0.0
    snip = 0.0
    for m in _weighted_modules(net):
        g = m.weight.grad
        if g is None:
            continue
        gnorm += float(torch.linalg.vector_norm(g).item())
        snip += float(torch.sum(torch.abs(m.weight.detach() * g)).item())
    return gnorm, snip


def jacob_cov(model: nn.Module, x: torch.Tensor) -> float:
    """Mellor et al.'s (v1) Jacobian-covariance score on the minibatch ``x`` (eval mode)."""
    net = copy.deepcopy(model).eval()
    xi = x.detach().clone().requires_grad_(True)
    out = _logits(net, xi)
    out.backward(torch.ones_like(out))
    jac = xi.grad.reshape(x.shape[0], -1).to(torch.float64).numpy()
    std = jac.std(axis=1, keepdims=True)
    if np.any(std == 0):
        # a constant Jacobian row has no correlation; give it the worst (most correlated) value
        return float(-jac.shape[0] * (math.log(1e-5) + 1e5))
    corr = np.corrcoef(jac)
    eig = np.linalg.eigvalsh(corr)
    k = 1e-5
    value = float(-np.sum(np.log(np.clip(eig, 0.0, None) + k) + 1.0 / (np.clip(eig, 0.0, None) + k)))
    if not math.isfinite(value):
        raise ProxyError(f"jacob_cov: score is not finite ({value})")
    return value


def compute_proxies(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 0
) -> dict[str, float]:
    """Zero-shot proxies of a plain single-output model on one minibatch.

    Args:
        model: a ``torch.nn.Module`` whose ``forward(x)`` returns logits ``(batch, classes)``.
            Never modified: every proxy works on a deep copy.
        x: a minibatch of inputs (at least 2 samples; 32-128 is typical).
        y: the class indices of ``x`` (int64, shape ``(batch,)``).
        seed: seeds torch's RNG (dropout in train-mode gradient passes).

    Returns:
        ``{name: float}`` for every name in :data:`PROXY_NAMES`; all finite.

    Raises:
        ProxyError: bad inputs, a multi-output model, or a score that cannot be finite.
    """
    _check_inputs(model, x, y)
    torch.set_num_threads(1)
    x = x.detach().float()
    y = y.detach().long()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gnorm, snip = _grad_proxies(model, x, y)
        result = {
            "synflow": synflow_log(model, x[:1]),
            "naswot": naswot(model, x),
            "grad_norm": gnorm,
            "snip": snip,
            "jacob_cov": jacob_cov(model, x),
            "params": float(count_nonzero_params(model)),
            "flops": float(count_macs(copy.deepcopy(model).eval(), x[:1])),
        }
    for name, value in result.items():
        if not math.isfinite(value):
            raise ProxyError(f"proxy {name!r}: not finite ({value})")
    return {name: float(result[name]) for name in PROXY_NAMES}


def _rank_corr(proxy: Sequence[float], acc: Sequence[float]) -> tuple[float | None, float | None]:
    from scipy import stats  # scipy ships with scikit-learn, a project dependency

    p = np.asarray(proxy, dtype=float)
    a = np.asarray(acc, dtype=float)
    if len(p) < 2 or np.all(p == p[0]) or np.all(a == a[0]):
        return None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tau = float(stats.kendalltau(p, a).statistic)
        rho = float(stats.spearmanr(p, a).statistic)
    return (tau if math.isfinite(tau) else None), (rho if math.isfinite(rho) else None)


def proxy_correlations(
    variants: Iterable[dict[str, Any]], names: Sequence[str] | None = None
) -> dict[str, dict[str, float | int | None]]:
    """Kendall tau-b and Spearman rho of every proxy against the variants' ``accuracy``.

    Args:
        variants: profile variants (dicts with ``accuracy`` and ``proxies``).
        names: proxies to score; default every name found in any variant.

    Returns:
        ``{name: {"kendall_tau": float | None, "spearman_rho": float | None, "n": int}}``.
        Variants without a finite value for the proxy are left out (``n`` counts the rest).
        A correlation is ``None`` (JSON ``null``) when it is undefined: fewer than 2 variants, or
        the proxy or the accuracy is constant over them (scipy would return NaN).
    """
    vs = list(variants)
    if names is None:
        names = sorted({n for v in vs for n in v.get("proxies", {})})
    out: dict[str, dict[str, float | int | None]] = {}
    for name in names:
        pairs = [
            (float(v["proxies"][name]), float(v["accuracy"]))
            for v in vs
            if v.get("proxies", {}).get(name) is not None
            and math.isfinite(float(v["proxies"][name]))
        ]
        tau, rho = _rank_corr([p for p, _ in pairs], [a for _, a in pairs])
        out[name] = {"kendall_tau": tau, "spearman_rho": rho, "n": len(pairs)}
    return out


def _group_key(v: dict[str, Any], by: Sequence[str]) -> tuple:
    key = []
    for field in by:
        val = v.get("arithmetic", "float") if field == "arithmetic" else v[field]
        if field == "prune":
            val = (str(val["kind"]), round(float(val["fraction"]), 4))
        key.append(val)
    return tuple(key)


def proxy_correlations_by_axis(
    variants: Iterable[dict[str, Any]],
    group_by: Sequence[str] = ("bits",),
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Rank correlations computed *within* groups of variants that share ``group_by`` fields.

    ``group_by=("bits", "arithmetic")`` asks: among variants of one bit level, does the proxy rank
    the depth and pruning levels? (``arithmetic`` defaults to ``"float"`` for schema-1 variants.) ``group_by=("depth", "prune")`` asks: for one architecture, does the
    proxy rank the bit widths? (Most proxies barely move with the bit width, so they cannot.)

    Returns:
        ``{"groups": [{"key": {field: value}, "n": int, "correlations": {...}}],
        "mean": {name: {"kendall_tau": float | None, "spearman_rho": float | None,
        "n_groups": int}}}`` where ``correlations`` is :func:`proxy_correlations` of the group and
        ``mean`` averages each correlation over the groups where it is defined (``n_groups``).
    """
    vs = list(variants)
    if names is None:
        names = sorted({n for v in vs for n in v.get("proxies", {})})
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for v in vs:
        groups.setdefault(_group_key(v, group_by), []).append(v)
    rows = []
    try:
        ordered = sorted(groups)
    except TypeError:  # mixed value types in a field: fall back to a stable textual order
        ordered = sorted(groups, key=repr)
    for key in ordered:
        members = groups[key]
        key_dict = {}
        for f, k in zip(group_by, key):
            key_dict[f] = {"kind": k[0], "fraction": k[1]} if f == "prune" else k
        rows.append(
            {"key": key_dict, "n": len(members), "correlations": proxy_correlations(members, names)}
        )
    mean: dict[str, dict[str, float | int | None]] = {}
    for name in names:
        entry: dict[str, float | int | None] = {}
        n_groups = 0
        for stat in ("kendall_tau", "spearman_rho"):
            vals = [
                r["correlations"][name][stat]
                for r in rows
                if r["correlations"][name][stat] is not None
            ]
            entry[stat] = float(np.mean(vals)) if vals else None
            n_groups = max(n_groups, len(vals))
        entry["n_groups"] = n_groups
        mean[name] = entry
    return {"group_by": list(group_by), "groups": rows, "mean": mean}
