"""Forward models for inverse problems: the measurement law p(y | x) and what samplers need of it.

Images are (B, C, H, W) tensors in [-1, 1]; noise levels are in the same units.
"""

from __future__ import annotations

import abc
import copy
import math

import torch

from ....argument_checks import check_positive


def check_image(x: torch.Tensor, name: str = "x") -> None:
    """x must be a finite (B, C, H, W) tensor."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"`{name}` must be a (B, C, H, W) tensor, got {shape}.")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"`{name}` has non-finite values (nan or inf).")


class ForwardOperator(abc.ABC):
    r"""A measurement model :math:`y \sim p(y \mid x)` for images x of any (B, C, H, W) shape.

    An abstract base class: a subclass defines the four abstract methods, :meth:`forward` (the
    noiseless measurement A(x)), :meth:`measure` (draw a noisy y), :meth:`log_likelihood` and
    :meth:`measurement_shape`, and sets ``noise_level``; everything else (gradients, the DPS
    distance, checks, tempering) is derived from them. The log-likelihood is per sample, (B,), up
    to an additive constant chosen so that it is <= 0 (a perfect fit scores 0): posterior
    samplers only use its gradient and DPS uses the "distance"
    :math:`d(x) = \sqrt{-2 s^2 \log p(y \mid x)}` (``||y - A(x)||`` for Gaussian noise), with s the
    operator's ``noise_level``. Nonlinear operators need nothing more: gradients come from autograd.
    """

    #: s, the likelihood's scale in image units (noise std for Gaussian noise).
    noise_level: float = 1.0
    #: True for a linear A with Gaussian noise: the proximal law is Gaussian, sampled exactly.
    is_linear_gaussian: bool = False

    @abc.abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""The noiseless measurement :math:`A(x)`, the quantity y is drawn around.

        Args:
            x: images (B, C, H, W).

        Returns:
            A(x), shaped ``measurement_shape(x.shape)``, in x's dtype and on its device.
        """

    @abc.abstractmethod
    def measure(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""One noisy measurement :math:`y \sim p(y \mid x)` per image (e.g.
        :math:`y = A(x) + s\,n`, :math:`n \sim \mathcal N(0, I)` for Gaussian noise).

        Args:
            x: images (B, C, H, W).
            generator: the ``torch.Generator`` the noise is drawn from (on x's device), or None.

        Returns:
            y, shaped ``measurement_shape(x.shape)``.
        """

    @abc.abstractmethod
    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r""":math:`\log p(y \mid x)` per sample, up to an additive constant that makes it <= 0
        (0 for a perfect fit; :math:`-\lVert y - A(x)\rVert^2 / (2 s^2)` for Gaussian noise).
        Must be differentiable in x: :meth:`log_likelihood_grad` differentiates it by autograd
        unless a subclass gives the gradient in closed form.

        Args:
            x: images (B, C, H, W).
            y: measurements (B, ...), shaped ``measurement_shape(x.shape)``.

        Returns:
            (B,) log-likelihoods, in x's dtype.
        """

    @abc.abstractmethod
    def measurement_shape(self, image_shape) -> tuple[int, ...]:
        """The shape of y for images of ``image_shape`` (B, C, H, W) (e.g. (B, C, H/f, W/f) for
        super-resolution by f); raises ValueError for image sizes the operator cannot take.

        Args:
            image_shape: (B, C, H, W).

        Returns:
            The measurement's shape, its first entry B.
        """

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward`: ``operator(x)`` is A(x)."""
        return self.forward(x)

    def log_likelihood_grad(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(grad_x log p(y | x), log p(y | x)) per sample, by autograd."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            value = self.log_likelihood(x, y)
            (grad,) = torch.autograd.grad(value.sum(), x)
        return grad, value.detach()

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """d(x) = sqrt(-2 s^2 log p(y | x)) per sample (B,): ``||y - A(x)||`` for Gaussian noise."""
        return self.distance_from_log_likelihood(self.log_likelihood(x, y), min_square=1e-12)

    def distance_from_log_likelihood(self, value: torch.Tensor, min_square: float = 0.0) -> torch.Tensor:
        """d = sqrt(max(-2 s^2 log p(y | x), min_square)) from an already computed log-likelihood
        (B,); a positive ``min_square`` keeps the gradient finite at a perfect fit."""
        return (-2 * self.noise_level**2 * value).clamp_min(min_square).sqrt()

    def check_measurement(self, y: torch.Tensor, image_shape) -> None:
        """y must be finite and shaped like ``measurement_shape(image_shape)``."""
        expected = tuple(self.measurement_shape(tuple(image_shape)))
        if not isinstance(y, torch.Tensor) or tuple(y.shape) != expected:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(
                f"measurement `y` must have shape {expected} for images of shape {tuple(image_shape)} "
                f"under {type(self).__name__}, got {got}."
            )
        if not bool(torch.isfinite(y).all()):
            raise ValueError("measurement `y` has non-finite values (nan or inf).")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({fields})"

    def config(self) -> dict:
        """The constructor arguments (for sidecars and reproducibility)."""
        return dict(getattr(self, "_config", {}))

    def tempered(self, weight: float) -> ForwardOperator:
        r"""This operator with the likelihood raised to the power w = ``weight``:
        :math:`p_w(y \mid x) \propto p(y \mid x)^w` (w > 1 sharpens it; w = 1 is this operator).

        A sampler that uses the tempered operator targets :math:`p(x)\,p(y \mid x)^w`, a sharpened
        posterior, not the Bayesian one. The scale becomes :math:`s / \sqrt w` and the distance d
        stays the same, so that :math:`\log p_w = -d^2 / (2 (s/\sqrt w)^2)` as for Gaussian noise.
        """
        weight = check_positive(weight, "likelihood_weight")
        return self if weight == 1.0 else TemperedLikelihood(self, weight)

    def ambiguities(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Other images with exactly the same measurement law as x (none by default; phase
        retrieval has per-channel sign flips). Samplers choose among them with the prior."""
        return []


class TemperedLikelihood(ForwardOperator):
    """``operator`` with its log-likelihood multiplied by ``weight`` (see :meth:`ForwardOperator.tempered`)."""

    def __init__(self, operator: ForwardOperator, weight: float):
        self.operator, self.weight = operator, weight
        self.noise_level = operator.noise_level / weight**0.5
        self._config = {**operator.config(), "likelihood_weight": weight}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.operator.forward(x)

    def measure(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.operator.measure(x, generator=generator)

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.weight * self.operator.log_likelihood(x, y)

    def log_likelihood_grad(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grad, value = self.operator.log_likelihood_grad(x, y)
        return self.weight * grad, self.weight * value

    def measurement_shape(self, image_shape) -> tuple[int, ...]:
        return self.operator.measurement_shape(image_shape)

    def check_measurement(self, y: torch.Tensor, image_shape) -> None:
        self.operator.check_measurement(y, image_shape)

    def ambiguities(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.operator.ambiguities(x)


class GaussianMeasurement(ForwardOperator):
    r"""Additive white Gaussian noise: :math:`y = A(x) + s\,n`, :math:`n \sim \mathcal N(0, I)`,
    :math:`\log p(y \mid x) = -\lVert y - A(x) \rVert^2 / (2 s^2)` (+ const). Subclasses define
    :meth:`forward` (A) and :meth:`measurement_shape`."""

    def __init__(self, noise_std: float):
        self.noise_level = check_positive(noise_std, "noise_std")

    @property
    def noise_std(self) -> float:
        """s, the noise standard deviation (``noise_level``)."""
        return self.noise_level

    def measure(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_image(x)
        clean = self.forward(x)
        noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype, device=clean.device)
        return clean + self.noise_level * noise

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        residual = (y - self.forward(x)).reshape(x.shape[0], -1)
        return -0.5 * (residual**2).sum(1) / self.noise_level**2

    def tempered(self, weight: float) -> GaussianMeasurement:
        """A copy with noise std s / sqrt(w): the tempered Gaussian likelihood is again Gaussian,
        so linear operators keep their exact proximal sampler."""
        weight = check_positive(weight, "likelihood_weight")
        if weight == 1.0:
            return self
        tempered = copy.copy(self)
        tempered.noise_level = self.noise_level / weight**0.5
        tempered._config = {**self.config(), "likelihood_weight": weight}
        return tempered


class LinearOperator(GaussianMeasurement):
    r"""Linear :math:`A` with Gaussian noise. Subclasses define :meth:`A` and usually
    :meth:`A_adjoint` (the default is the exact vector-Jacobian product of A) and, where A^T A
    has a closed form, :meth:`solve_normal`.

    The proximal law of the posterior sampler,
    :math:`\pi(x) \propto p(y \mid x)\, \exp(-\lVert x - c \rVert^2 / (2\eta^2))`, is Gaussian with
    precision :math:`P = A^\top A / s^2 + I / \eta^2` and mean
    :math:`P^{-1}(A^\top y / s^2 + c / \eta^2)`. :meth:`proximal_sample` draws from it exactly by
    perturb-and-MAP (Papandreou & Yuille 2010): solve
    :math:`P x = A^\top (y + s z_1) / s^2 + (c + \eta z_2) / \eta^2` with independent standard
    normal :math:`z_1, z_2`; then x has exactly that mean and covariance :math:`P^{-1}`.
    """

    is_linear_gaussian = True

    @abc.abstractmethod
    def A(self, x: torch.Tensor) -> torch.Tensor:
        """The linear map :math:`A x` (B, C, H, W) -> ``measurement_shape`` (:meth:`forward` is A)."""

    def A_adjoint(self, y: torch.Tensor, image_shape=None) -> torch.Tensor:
        """A^T y, by the vector-Jacobian product of A at zero (exact for a linear A)."""
        if image_shape is None:
            raise ValueError(f"{type(self).__name__}.A_adjoint needs `image_shape` (no explicit adjoint).")
        with torch.enable_grad():
            zero = torch.zeros(image_shape, dtype=y.dtype, device=y.device, requires_grad=True)
            (out,) = torch.autograd.grad(self.A(zero), zero, grad_outputs=y)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(x)

    def adjoint(self, y: torch.Tensor, image_shape) -> torch.Tensor:
        """A^T y for images of ``image_shape`` (passes the shape to operators that need it)."""
        return self.A_adjoint(y, image_shape=tuple(image_shape))

    def log_likelihood_grad(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(A^T (y - A x) / s^2, log p(y | x)) in closed form."""
        residual = y - self.A(x)
        value = -0.5 * (residual.reshape(x.shape[0], -1) ** 2).sum(1) / self.noise_level**2
        return self.adjoint(residual, x.shape) / self.noise_level**2, value

    def solve_normal(self, rhs: torch.Tensor, eta: float) -> torch.Tensor:
        """(A^T A / s^2 + I / eta^2)^{-1} rhs; conjugate gradients unless a subclass knows better."""
        return conjugate_gradients(lambda v: self.adjoint(self.A(v), v.shape) / self.noise_level**2 + v / eta**2, rhs)

    def proximal_sample(
        self, center: torch.Tensor, y: torch.Tensor, eta: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One exact draw from the proximal law (see the class docstring), per batch element."""
        s = self.noise_level
        z1 = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        z2 = torch.randn(center.shape, generator=generator, dtype=center.dtype, device=center.device)
        rhs = self.adjoint(y + s * z1, center.shape) / s**2 + (center + eta * z2) / eta**2
        return self.solve_normal(rhs, eta)

    def proximal_mean(self, center: torch.Tensor, y: torch.Tensor, eta: float) -> torch.Tensor:
        """The proximal law's mean P^{-1}(A^T y / s^2 + c / eta^2)."""
        rhs = self.adjoint(y, center.shape) / self.noise_level**2 + center / eta**2
        return self.solve_normal(rhs, eta)

    def as_matrix(self, image_shape) -> torch.Tensor:
        """The dense (M, D) matrix of A on flattened images of ``image_shape`` (1, C, H, W): for
        tests and exact references on tiny shapes."""
        image_shape = tuple(image_shape)
        D = math.prod(image_shape)
        basis = torch.eye(D, dtype=torch.float64).reshape(D, *image_shape[1:])
        return self.A(basis).reshape(D, -1).T.contiguous()


def conjugate_gradients(apply, rhs: torch.Tensor, tol: float = 1e-6, max_iter: int = 500) -> torch.Tensor:
    """Solve ``apply(x) = rhs`` for a symmetric positive definite ``apply``, per batch element
    (Hestenes & Stiefel 1952), to relative residual ``tol``."""
    B = rhs.shape[0]

    def dot(a, b):
        return (a * b).reshape(B, -1).sum(1).reshape(B, *([1] * (rhs.ndim - 1)))

    x = torch.zeros_like(rhs)
    r = rhs.clone()
    p = r.clone()
    rr = dot(r, r)
    target = tol**2 * rr
    for _ in range(max_iter):
        if bool((rr <= target).all()):
            break
        Ap = apply(p)
        alpha = rr / dot(p, Ap).clamp_min(torch.finfo(rhs.dtype).tiny)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = dot(r, r)
        p = r + (rr_new / rr.clamp_min(torch.finfo(rhs.dtype).tiny)) * p
        rr = rr_new
    return x
