"""Gaussian and Gaussian-mixture data distributions with exact diffusion scores and posteriors."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def _as_level(alpha_bar, batch: int, dtype) -> torch.Tensor:
    """alpha-bar as a (batch, 1, 1) tensor (scalar or per-sample input)."""
    a = torch.as_tensor(alpha_bar, dtype=dtype)
    if a.ndim == 0:
        a = a.expand(batch)
    if a.shape != (batch,):
        raise ValueError(f"`alpha_bar` must be a scalar or have shape ({batch},), got {tuple(a.shape)}.")
    if not bool(((a >= 0) & (a <= 1)).all()):
        raise ValueError("`alpha_bar` must lie in [0, 1].")
    return a.view(batch, 1, 1)


class GaussianMixture:
    r"""Data distribution :math:`p_0 = \sum_k w_k\, \mathcal N(\mu_k, \Sigma_k)` with exact VP-diffusion quantities.

    Under the forward process :math:`x_t = \sqrt{\bar a}\,x_0 + \sqrt{1-\bar a}\,\varepsilon`
    every marginal is again a mixture,
    :math:`q_t = \sum_k w_k \mathcal N(\sqrt{\bar a}\mu_k,\ \bar a\Sigma_k + (1-\bar a) I)`, so the
    optimal noise prediction is exact (e.g. Song et al., ICLR 2021, eq. for Gaussian data):

    .. math::
        \varepsilon^*(x, \bar a) = \sqrt{1-\bar a}\ \sum_k r_k(x)\,
            (\bar a\Sigma_k + (1-\bar a) I)^{-1} (x - \sqrt{\bar a}\,\mu_k),

    with :math:`r_k(x)` the posterior component responsibilities under :math:`q_t` (computed
    with log-sum-exp). Covariances are stored by eigendecomposition
    :math:`\Sigma_k = U_k \mathrm{diag}(\lambda_k) U_k^\top`, with U either the identity
    (diagonal covariances), one basis shared by all components, or one per component.
    Everything is float64. Samples have shape ``(n, *event_shape)``.

    Args:
        weights: (K,) positive mixture weights (normalised here).
        means: (K, D) or (K, *event_shape) component means.
        covariances: (K,) isotropic variances, (K, D) diagonal variances or (K, D, D) full
            covariance matrices (symmetric positive definite).
        event_shape: shape of one sample, e.g. (3, 16, 16); default (D,).
    """

    def __init__(self, weights, means, covariances, event_shape: Sequence[int] | None = None):
        means = torch.as_tensor(means, dtype=torch.float64)
        K = means.shape[0]
        means = means.reshape(K, -1)
        D = means.shape[1]
        cov = torch.as_tensor(covariances, dtype=torch.float64)
        if cov.shape == (K,):
            eigvals, basis = cov[:, None].expand(K, D).clone(), None
        elif cov.shape == (K, D):
            eigvals, basis = cov.clone(), None
        elif cov.shape == (K, D, D):
            if not torch.allclose(cov, cov.transpose(1, 2)):
                raise ValueError("`covariances` must be symmetric.")
            eigvals, basis = torch.linalg.eigh(cov)
        else:
            raise ValueError(
                f"`covariances` must have shape ({K},), ({K}, {D}) or ({K}, {D}, {D}); got {tuple(cov.shape)}."
            )
        self._init(weights, means, eigvals, basis, event_shape)

    @classmethod
    def from_eigen(cls, weights, means, eigvals, basis=None, event_shape=None) -> GaussianMixture:
        """Build from eigenvalues (K, D) and an orthonormal basis: None (identity), (D, D) shared
        by all components (cheap for image-shaped targets, e.g. a DCT basis) or (K, D, D)."""
        obj = cls.__new__(cls)
        means = torch.as_tensor(means, dtype=torch.float64)
        means = means.reshape(means.shape[0], -1)
        basis = None if basis is None else torch.as_tensor(basis, dtype=torch.float64)
        obj._init(weights, means, torch.as_tensor(eigvals, dtype=torch.float64), basis, event_shape)
        return obj

    def _init(self, weights, means, eigvals, basis, event_shape) -> None:
        K, D = means.shape
        w = torch.as_tensor(weights, dtype=torch.float64).reshape(-1)
        if w.shape != (K,) or not bool((w > 0).all()):
            raise ValueError(f"`weights` must be {K} positive numbers, got {w.tolist()}.")
        if eigvals.shape != (K, D) or not bool((eigvals > 0).all()):
            raise ValueError("component covariances must be positive definite.")
        if basis is not None and basis.shape not in ((D, D), (K, D, D)):
            raise ValueError(f"`basis` must have shape ({D}, {D}) or ({K}, {D}, {D}); got {tuple(basis.shape)}.")
        self.event_shape = tuple(event_shape) if event_shape is not None else (D,)
        if math.prod(self.event_shape) != D:
            raise ValueError(f"`event_shape` {self.event_shape} does not hold {D} values.")
        self.weights = w / w.sum()
        self.means = means
        self.eigvals = eigvals
        self.basis = basis
        if basis is None:
            self._means_eigen = means
        elif basis.ndim == 2:
            self._means_eigen = means @ basis
        else:
            self._means_eigen = torch.einsum("kd,kde->ke", means, basis)

    # ------------------------------------------------------------------ basics
    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def covariance_matrices(self) -> torch.Tensor:
        """(K, D, D) full covariances."""
        U = self._basis_per_component()
        return U @ torch.diag_embed(self.eigvals) @ U.transpose(1, 2)

    def mean(self) -> torch.Tensor:
        """Mean of p_0, flat (D,)."""
        return self.weights @ self.means

    def covariance(self) -> torch.Tensor:
        """Covariance of p_0, (D, D)."""
        m = self.mean()
        second = torch.einsum("k,kde->de", self.weights, self.covariance_matrices())
        second = second + torch.einsum("k,kd,ke->de", self.weights, self.means, self.means)
        return second - torch.outer(m, m)

    def _basis_per_component(self) -> torch.Tensor:
        K, D = self.means.shape
        if self.basis is None:
            return torch.eye(D, dtype=torch.float64).expand(K, D, D)
        return self.basis.expand(K, D, D) if self.basis.ndim == 2 else self.basis

    def _eigen_residuals(self, xf: torch.Tensor, sqrt_a: torch.Tensor) -> torch.Tensor:
        """U_k^T (x - sqrt(a) mu_k) for every component: (B, K, D). x is rotated once per basis
        (once in all for a shared basis) and the means were rotated in advance."""
        if self.basis is None:
            rotated = xf[:, None, :]
        elif self.basis.ndim == 2:
            rotated = (xf @ self.basis)[:, None, :]
        else:
            rotated = torch.einsum("bd,kde->bke", xf, self.basis)
        return rotated - sqrt_a * self._means_eigen[None]

    def _from_eigen_weighted(self, coords: torch.Tensor) -> torch.Tensor:
        """sum_k U_k coords_k: (B, K, D) -> (B, D)."""
        if self.basis is None:
            return coords.sum(1)
        if self.basis.ndim == 2:
            return coords.sum(1) @ self.basis.T
        return torch.einsum("bke,kde->bd", coords, self.basis)

    def _flatten(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x)
        if tuple(x.shape[1:]) != self.event_shape:
            raise ValueError(
                f"expected samples of shape (B, {', '.join(map(str, self.event_shape))}), got {tuple(x.shape)}."
            )
        return x.reshape(x.shape[0], -1).to(torch.float64)

    # ------------------------------------------------------------------ diffused marginals
    def _component_terms(self, x: torch.Tensor, alpha_bar):
        """Per component: log N(x; sqrt(a) mu_k, a S_k + (1-a) I) + log w_k, and the whitened
        residual (a S_k + (1-a) I)^{-1}(x - sqrt(a) mu_k) in eigen-coordinates."""
        xf = self._flatten(x)
        B = xf.shape[0]
        a = _as_level(alpha_bar, B, torch.float64)
        coords = self._eigen_residuals(xf, a.sqrt())
        level = a[:1] if bool((a == a[0]).all()) else a  # one level for the batch: (1, K, D) variances
        var = level * self.eigvals[None] + (1.0 - level)
        logp = (
            self.weights.log()[None]
            - 0.5 * (coords**2 / var).sum(-1)
            - 0.5 * var.log().sum(-1)
            - 0.5 * self.dim * math.log(2 * math.pi)
        )
        return logp, coords / var, a

    def log_prob(self, x: torch.Tensor, alpha_bar=1.0) -> torch.Tensor:
        """log q_t(x) at level alpha_bar (1 = data distribution); shape (B,)."""
        logp, _, _ = self._component_terms(x, alpha_bar)
        return torch.logsumexp(logp, dim=1)

    def responsibilities(self, x: torch.Tensor, alpha_bar=1.0) -> torch.Tensor:
        """Posterior component probabilities p(k | x) under q_t, (B, K); their mean over samples
        estimates the component weights the samples were drawn with."""
        logp, _, _ = self._component_terms(x, alpha_bar)
        return torch.softmax(logp, dim=1)

    def score(self, x: torch.Tensor, alpha_bar) -> torch.Tensor:
        """Exact grad_x log q_t(x) at level alpha_bar; same shape as x."""
        logp, whitened, _ = self._component_terms(x, alpha_bar)
        grad = self._from_eigen_weighted(torch.softmax(logp, dim=1)[..., None] * whitened)
        return -grad.reshape(x.shape)

    def eps(self, x: torch.Tensor, alpha_bar) -> torch.Tensor:
        """Exact eps*(x, alpha_bar) = -sqrt(1 - a) * score; same shape and dtype as x."""
        a = _as_level(alpha_bar, x.shape[0], torch.float64).reshape(-1, *([1] * (x.dim() - 1)))
        return (-(1.0 - a).sqrt() * self.score(x, alpha_bar)).to(x.dtype)

    def eps_model(self, alphas_cumprod: torch.Tensor):
        """An ``eps_model(x_t, t)`` callable for a discrete schedule: integer t indexes
        ``alphas_cumprod``; fractional t (Karras-sigma schedulers) interpolates
        sigma = sqrt((1 - a) / a) linearly in t, as diffusers does."""
        ac = torch.as_tensor(alphas_cumprod, dtype=torch.float64)
        sigmas = ((1 - ac) / ac).sqrt()
        grid = torch.arange(len(ac), dtype=torch.float64)

        def model(x_t: torch.Tensor, t) -> torch.Tensor:
            t = torch.as_tensor(t, dtype=torch.float64).reshape(-1).expand(x_t.shape[0])
            lo = t.floor().clamp(0, len(ac) - 1).long()
            hi = (lo + 1).clamp(max=len(ac) - 1)
            frac = t - grid[lo]
            sigma = sigmas[lo] * (1 - frac) + sigmas[hi] * frac
            return self.eps(x_t, 1.0 / (1.0 + sigma**2))

        return model

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, generator: torch.Generator | None = None, alpha_bar: float = 1.0) -> torch.Tensor:
        """n exact samples of q_t at level alpha_bar (default: the data distribution)."""
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        scaled = z * self.eigvals[comp].sqrt()
        if self.basis is not None and self.basis.ndim == 2:
            scaled = scaled @ self.basis.T
        elif self.basis is not None:  # rotate each component's draws by its own basis
            for k in range(self.num_components):
                rows = comp == k
                scaled[rows] = scaled[rows] @ self.basis[k].T
        x0 = self.means[comp] + scaled
        if alpha_bar != 1.0:
            noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
            x0 = math.sqrt(alpha_bar) * x0 + math.sqrt(1.0 - alpha_bar) * noise
        return x0.reshape(n, *self.event_shape)

    # ------------------------------------------------------------------ inverse problems
    def posterior(self, A, y, noise_std: float) -> GaussianMixture:
        r"""Exact posterior p(x0 | y) for y = A x0 + noise_std * n, n ~ N(0, I).

        Per component (Bishop, PRML eq. 2.113-2.117): with
        :math:`G_k = A\Sigma_k A^\top + s^2 I`, mean :math:`\mu_k + \Sigma_k A^\top G_k^{-1}(y - A\mu_k)`,
        covariance :math:`\Sigma_k - \Sigma_k A^\top G_k^{-1} A \Sigma_k`, weight
        :math:`\propto w_k\,\mathcal N(y; A\mu_k, G_k)`.

        Args:
            A: (M, D) measurement matrix (flattened coordinates).
            y: (M,) measurement.
            noise_std: s > 0.
        """
        A = torch.as_tensor(A, dtype=torch.float64)
        y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
        if A.ndim != 2 or A.shape[1] != self.dim or y.shape[0] != A.shape[0]:
            raise ValueError(f"`A` must be (M, {self.dim}) and `y` (M,), got {tuple(A.shape)} and {tuple(y.shape)}.")
        if not noise_std > 0:
            raise ValueError(f"`noise_std` must be > 0, got {noise_std}.")
        S = self.covariance_matrices()
        SAt = S @ A.T  # (K, D, M)
        G = A @ SAt + noise_std**2 * torch.eye(A.shape[0], dtype=torch.float64)
        resid = y[None] - self.means @ A.T  # (K, M)
        L = torch.linalg.cholesky(G)
        sol = torch.cholesky_solve(resid[..., None], L)[..., 0]  # G^{-1} resid
        means = self.means + (SAt @ sol[..., None])[..., 0]
        covs = S - SAt @ torch.cholesky_solve(SAt.transpose(1, 2), L)
        covs = 0.5 * (covs + covs.transpose(1, 2))
        logdet = 2 * torch.log(torch.diagonal(L, dim1=1, dim2=2)).sum(-1)
        logw = self.weights.log() - 0.5 * (resid * sol).sum(-1) - 0.5 * logdet
        return GaussianMixture(torch.softmax(logw, 0), means, covs, self.event_shape)


class Gaussian(GaussianMixture):
    r"""Single Gaussian :math:`\mathcal N(\mu, \Sigma)`: a one-component :class:`GaussianMixture` whose
    probability-flow ODE is solvable in closed form.

    With :math:`\bar x = x/\sqrt{\bar a}` and :math:`\sigma^2 = 1/\bar a - 1` the ODE is
    :math:`d\bar x/d\sigma = \sigma(\Sigma + \sigma^2 I)^{-1}(\bar x - \mu)`, so in the eigenbasis
    each coordinate of :math:`\bar x - \mu` scales by
    :math:`\sqrt{(\lambda + \sigma_1^2)/(\lambda + \sigma_0^2)}` (:meth:`flow`).
    """

    def __init__(self, mean, covariance, event_shape: Sequence[int] | None = None):
        mean = torch.as_tensor(mean, dtype=torch.float64).reshape(1, -1)
        cov = torch.as_tensor(covariance, dtype=torch.float64)
        super().__init__([1.0], mean, cov[None], event_shape)

    def flow(self, x: torch.Tensor, alpha_from: float, alpha_to: float = 1.0) -> torch.Tensor:
        """Exact probability-flow ODE map of x from level alpha_from to alpha_to."""
        xf = self._flatten(x)
        s0, s1 = 1.0 / alpha_from - 1.0, 1.0 / alpha_to - 1.0
        U = self._basis_per_component()[0]
        coords = (xf / math.sqrt(alpha_from) - self.means) @ U
        coords = coords * ((self.eigvals[0] + s1) / (self.eigvals[0] + s0)).sqrt()
        out = math.sqrt(alpha_to) * (self.means + coords @ U.T)
        return out.reshape(x.shape)
