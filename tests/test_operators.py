"""Forward operators for inverse problems: adjoints, closed-form solves, seeds, likelihoods, errors."""

import numpy as np
import pytest
import torch

from plugdiff.pipelines.posterior.operators import (
    OPERATORS,
    CircularConvolution,
    ForwardOperator,
    GaussianBlur,
    Inpainting,
    LinearOperator,
    MotionBlur,
    PhaseRetrieval,
    Quantized1Bit,
    SuperResolution,
    make_operator,
)

LINEAR = {
    "inpaint_box": lambda: Inpainting("box"),
    "inpaint_random": lambda: Inpainting("random", fraction=0.3, seed=1),
    "sr_average_2": lambda: SuperResolution(2, "average"),
    "sr_average_4": lambda: SuperResolution(4, "average"),
    "sr_bicubic_2": lambda: SuperResolution(2, "bicubic"),
    "sr_bicubic_4": lambda: SuperResolution(4, "bicubic"),
    "gaussian_blur": lambda: GaussianBlur(sigma=1.0),
    "motion_blur": lambda: MotionBlur(kernel_size=5, seed=2),
    "even_kernel": lambda: CircularConvolution(torch.rand(2, 3, generator=torch.Generator().manual_seed(0))),
}
CLOSED_FORM = [
    "inpaint_box",
    "inpaint_random",
    "sr_average_2",
    "sr_average_4",
    "gaussian_blur",
    "motion_blur",
    "even_kernel",
]
SHAPES = [(2, 1, 8, 12), (1, 3, 8, 8)]
TINY = [(1, 1, 8, 8), (1, 3, 8, 12)]


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def dense_precision(op: LinearOperator, shape, eta):
    matrix = op.as_matrix(shape)
    return matrix, matrix.T @ matrix / op.noise_level**2 + torch.eye(matrix.shape[1], dtype=torch.float64) / eta**2


# ---------------------------------------------------------------- linear operators


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", LINEAR)
def test_adjoint_dot_product(name, shape):
    op = LINEAR[name]()
    x = randn(*shape, seed=1)
    y = randn(*op.measurement_shape(shape), seed=2)
    lhs = (op.A(x) * y).sum()
    rhs = (x * op.A_adjoint(y)).sum()
    rhs_with_shape = (x * op.adjoint(y, shape)).sum()
    scale = op.A(x).norm() * y.norm()
    assert abs(lhs - rhs) <= 1e-10 * scale
    assert abs(lhs - rhs_with_shape) <= 1e-10 * scale


@pytest.mark.parametrize("shape", TINY)
@pytest.mark.parametrize("name", LINEAR)
def test_solve_normal_matches_dense(name, shape):
    op, eta = LINEAR[name](), 0.3
    _, precision = dense_precision(op, shape, eta)
    rhs = randn(2, *shape[1:], seed=3)
    expected = torch.linalg.solve(precision, rhs.reshape(2, -1).T).T.reshape(rhs.shape)
    got = op.solve_normal(rhs, eta)
    tol = 1e-10 if name in CLOSED_FORM else 1e-4  # conjugate gradients to relative residual 1e-6
    assert (got - expected).norm() <= tol * expected.norm()


@pytest.mark.parametrize("name", LINEAR)
def test_log_likelihood_grad_and_proximal_mean(name):
    op, eta, shape = LINEAR[name](), 0.2, (1, 3, 8, 8)
    x, center = randn(*shape, seed=4), randn(*shape, seed=5)
    y = op.measure(randn(*shape, seed=6), generator=torch.Generator().manual_seed(0))
    grad, value = op.log_likelihood_grad(x, y)
    auto_grad, auto_value = ForwardOperator.log_likelihood_grad(op, x, y)
    torch.testing.assert_close(grad, auto_grad, rtol=1e-10, atol=1e-8)
    torch.testing.assert_close(value, auto_value, rtol=1e-12, atol=0)
    matrix, precision = dense_precision(op, shape, eta)
    s2 = op.noise_level**2
    expected = torch.linalg.solve(precision, matrix.T @ y.flatten() / s2 + center.flatten() / eta**2)
    got = op.proximal_mean(center, y, eta).flatten()
    assert (got - expected).norm() <= (1e-10 if name in CLOSED_FORM else 1e-4) * expected.norm()
    sample = op.proximal_sample(center, y, eta, generator=torch.Generator().manual_seed(1))
    assert sample.shape == shape and bool(torch.isfinite(sample).all())


def test_bicubic_is_linear_and_shapes():
    op = SuperResolution(4, "bicubic")
    x1, x2 = randn(2, 3, 8, 12, seed=1), randn(2, 3, 8, 12, seed=2)
    torch.testing.assert_close(op.A(2 * x1 - 3 * x2), 2 * op.A(x1) - 3 * op.A(x2), rtol=1e-12, atol=1e-12)
    assert op.A(x1).shape == op.measurement_shape(x1.shape) == (2, 3, 2, 3)
    assert op.A_adjoint(op.A(x1)).shape == x1.shape


def test_average_sr_values():
    x = torch.arange(16.0, dtype=torch.float64).reshape(1, 1, 4, 4)
    op = SuperResolution(2, "average")
    torch.testing.assert_close(op.A(x), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]], dtype=torch.float64))
    up = op.A_adjoint(torch.ones(1, 1, 2, 2, dtype=torch.float64))
    torch.testing.assert_close(up, torch.full((1, 1, 4, 4), 0.25, dtype=torch.float64))


def test_inpainting_masks():
    box = Inpainting("box").mask(8, 8)
    assert box.sum() == 48 and box[2:6, 2:6].sum() == 0  # centred box, half of each side
    random = Inpainting("random", fraction=0.25, seed=0).mask(8, 12)
    assert random.sum() == 72  # exactly a quarter removed
    custom = torch.zeros(3, 5)
    custom[1, 2] = 1
    op = Inpainting(custom)
    y = op.A(torch.ones(2, 3, 3, 5))
    assert y.shape == (2, 3, 3, 5) and y.sum() == 6 and bool((y[:, :, 1, 2] == 1).all())


# ---------------------------------------------------------------- blurs


def test_blur_matches_explicit_circular_convolution():
    kernel = torch.rand(3, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    op = CircularConvolution(kernel)
    x = randn(2, 3, 6, 7, seed=1)
    expected = sum(kernel[i, j] * x.roll((i - 3 // 2, j - 4 // 2), dims=(-2, -1)) for i in range(3) for j in range(4))
    torch.testing.assert_close(op.A(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (2, 2), (4, 5)])
def test_delta_kernel_is_identity(size):
    kernel = torch.zeros(size, dtype=torch.float64)
    kernel[size[0] // 2, size[1] // 2] = 1
    op = CircularConvolution(kernel)
    for dtype in (torch.float32, torch.float64):
        x = randn(2, 3, 6, 8, dtype=dtype)
        out = op.A(x)
        assert out.dtype == dtype
        torch.testing.assert_close(out, x)
        torch.testing.assert_close(op.A_adjoint(x), x)


def test_blur_kernels():
    gauss = GaussianBlur(sigma=3.0)
    assert gauss.kernel.shape == (19, 19) and gauss.config()["kernel_size"] == 19
    assert torch.equal(gauss.kernel, gauss.kernel.flip(0)) and torch.equal(gauss.kernel, gauss.kernel.T)
    for intensity in (0.0, 0.5, 1.0):
        motion = MotionBlur(kernel_size=9, intensity=intensity, seed=4)
        assert motion.kernel.shape == (9, 9) and bool((motion.kernel >= 0).all())
        assert (motion.kernel > 0).sum() >= 9  # a path across the kernel, not a point
    for op in (gauss, MotionBlur(), GaussianBlur(sigma=0.5, kernel_size=7)):
        assert abs(float(op.kernel.sum()) - 1) < 1e-12
    assert torch.equal(MotionBlur(seed=7).kernel, MotionBlur(seed=7).kernel)
    assert not torch.equal(MotionBlur(seed=7).kernel, MotionBlur(seed=8).kernel)


# ---------------------------------------------------------------- seeds, dtypes, sizes


def test_seeded_masks_reproducible_and_order_independent():
    first = Inpainting("random", seed=3)
    first.mask(6, 6)  # building another size first changes nothing
    assert torch.equal(first.mask(8, 12), Inpainting("random", seed=3).mask(8, 12))
    assert not torch.equal(first.mask(8, 12), Inpainting("random", seed=4).mask(8, 12))
    pr = PhaseRetrieval(seed=3)
    pr.mask(5, 5)
    code = pr.mask(8, 12)
    assert torch.equal(code, PhaseRetrieval(seed=3).mask(8, 12))
    assert not torch.equal(code, PhaseRetrieval(seed=4).mask(8, 12))
    assert set(code.unique().tolist()) == {-1.0, 0.0, 1.0}
    big = PhaseRetrieval().mask(64, 64)
    for value in (-1, 0, 1):
        assert abs(float((big == value).double().mean()) - 1 / 3) < 0.03


@pytest.mark.parametrize("name", OPERATORS)
def test_measure_reproducible_and_config_roundtrip(name):
    op = make_operator(name, **({"kernel_size": 3} if "blur" in name else {}))
    x = randn(2, 3, 8, 8, seed=1).clamp(-1, 1)
    y1 = op.measure(x, generator=torch.Generator().manual_seed(5))
    y2 = op.measure(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(y1, y2) and not torch.equal(y1, op.measure(x, generator=torch.Generator().manual_seed(6)))
    op.check_measurement(y1, x.shape)
    again = make_operator(name, **op.config())
    assert again.config() == op.config() and repr(again) == repr(op)
    assert torch.equal(again.measure(x, generator=torch.Generator().manual_seed(5)), y1)


@pytest.mark.parametrize(
    "op",
    [
        Inpainting("random"),
        SuperResolution(4, "bicubic"),
        SuperResolution(2),
        GaussianBlur(sigma=0.5, kernel_size=3),
        MotionBlur(kernel_size=3),
        PhaseRetrieval(oversampling=3.0),
        Quantized1Bit(),
    ],
    ids=repr,
)
@pytest.mark.parametrize("shape", [(1, 1, 4, 4), (300, 3, 4, 8)])
def test_float32_and_batches(op, shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    y = op.measure(x, generator=torch.Generator().manual_seed(0))
    assert y.dtype == torch.float32 and tuple(y.shape) == op.measurement_shape(shape)
    value = op.log_likelihood(x, y)
    assert value.shape == (shape[0],) and bool(torch.isfinite(value).all())
    grad, _ = op.log_likelihood_grad(x, y)
    assert grad.shape == shape and grad.dtype == torch.float32 and bool(torch.isfinite(grad).all())
    if isinstance(op, LinearOperator):
        assert op.proximal_sample(x, y, 0.3).dtype == torch.float32


# ---------------------------------------------------------------- phase retrieval


def test_phase_retrieval_matches_numpy():
    op = PhaseRetrieval(oversampling=2.5, seed=1)
    x = randn(2, 2, 3, 5, seed=0)
    y = op.forward(x)
    assert y.shape == op.measurement_shape(x.shape) == (2, 2, 8, 13)  # 7.5 -> 8, 12.5 -> 13 (half up)
    coded = (x * op.mask(3, 5)).numpy()
    padded = np.zeros((2, 2, 8, 13))
    padded[:, :, 2:5, 4:9] = coded
    expected = np.abs(np.fft.fft2(padded, norm="ortho"))
    np.testing.assert_allclose(y.numpy(), expected, atol=2e-6)
    assert op.measure(x, torch.Generator().manual_seed(0)).shape == (2, 2, 8, 13)


def test_phase_retrieval_gradient():
    op = PhaseRetrieval(noise_std=0.1, seed=2)
    y = op.measure(randn(1, 1, 3, 3, seed=1), generator=torch.Generator().manual_seed(0))
    grad, _ = op.log_likelihood_grad(torch.zeros(1, 1, 3, 3, dtype=torch.float64), y)
    assert bool(torch.isfinite(grad).all())  # |F| = 0 everywhere at x = 0
    x = randn(1, 1, 3, 3, seed=2)
    grad, _ = op.log_likelihood_grad(x, y)
    numeric = torch.zeros_like(x)
    for i in range(x.numel()):
        step = torch.zeros(x.numel(), dtype=torch.float64)
        step[i] = 1e-6
        step = step.reshape(x.shape)
        numeric.view(-1)[i] = (op.log_likelihood(x + step, y) - op.log_likelihood(x - step, y)).sum() / 2e-6
    torch.testing.assert_close(grad, numeric, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- 1-bit quantization


def test_quantized_probability_and_gradient():
    op = Quantized1Bit(scale=0.4)
    levels = torch.linspace(-1, 1, 9, dtype=torch.float64)
    x = levels.reshape(1, 1, 1, 9).expand(20000, 1, 1, 9).contiguous()
    y = op.measure(x, generator=torch.Generator().manual_seed(0))
    assert set(y.unique().tolist()) == {-1.0, 1.0}
    frequency = (y == 1).double().mean(0).flatten()
    torch.testing.assert_close(frequency, torch.sigmoid(levels / 0.4), rtol=0, atol=0.015)
    op.check_measurement(y, x.shape)
    xs, ys = randn(3, 2, 4, 4, seed=1), torch.sign(randn(3, 2, 4, 4, seed=2))
    analytic = (ys / 0.4) * torch.sigmoid(-ys * xs / 0.4)
    grad, value = op.log_likelihood_grad(xs, ys)
    auto_grad, auto_value = ForwardOperator.log_likelihood_grad(op, xs, ys)
    torch.testing.assert_close(grad, analytic)
    torch.testing.assert_close(auto_grad, analytic)
    torch.testing.assert_close(value, auto_value)
    assert bool((value <= 0).all()) and op.noise_level == 0.4 and torch.equal(op(xs), xs)


def test_quantized_rejects_non_binary_measurement():
    op = Quantized1Bit()
    y = torch.ones(1, 1, 2, 2)
    y[0, 0, 0, 1] = 0.5
    with pytest.raises(ValueError, match=r"-1 and \+1"):
        op.check_measurement(y, (1, 1, 2, 2))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: SuperResolution(factor=3), "factor"),
        (lambda: SuperResolution(method="nearest"), "method"),
        (lambda: Inpainting(noise_std=-0.1), "noise_std"),
        (lambda: GaussianBlur(noise_std=0), "noise_std"),
        (lambda: SuperResolution(4).A(torch.zeros(1, 1, 6, 8)), "factor"),
        (lambda: SuperResolution(2, "bicubic").measurement_shape((1, 1, 5, 4)), "factor"),
        (lambda: Inpainting(torch.ones(4, 4)).A(torch.zeros(1, 1, 4, 5)), "mask"),
        (lambda: Inpainting(torch.full((4, 4), 0.5)), "mask"),
        (lambda: Inpainting(torch.ones(4)), "mask"),
        (lambda: Inpainting("circle"), "mask"),
        (lambda: Inpainting(box=(0.5, 0.5, 0.6, 0.2)), "box"),
        (lambda: Inpainting(box=(0.1, 0.1, 0.5)), "box"),
        (lambda: Inpainting("random", fraction=1.0), "fraction"),
        (lambda: GaussianBlur(sigma=3.0).A(torch.zeros(1, 1, 8, 8)), "kernel_size"),
        (lambda: GaussianBlur(sigma=0), "sigma"),
        (lambda: GaussianBlur(kernel_size=4), "kernel_size"),
        (lambda: MotionBlur(kernel_size=8), "kernel_size"),
        (lambda: MotionBlur(intensity=2), "intensity"),
        (lambda: MotionBlur(seed=-1), "seed"),
        (lambda: MotionBlur(seed=1.5), "seed"),
        (lambda: CircularConvolution(torch.ones(3)), "kernel"),
        (lambda: PhaseRetrieval(oversampling=1.5), "oversampling"),
        (lambda: PhaseRetrieval(oversampling=4.5), "oversampling"),
        (lambda: Quantized1Bit(scale=0), "scale"),
        (lambda: Inpainting().A(torch.zeros(4, 4)), "(B, C, H, W)"),
        (lambda: make_operator("deblur"), "unknown operator 'deblur'; choose one of: inpainting"),
        (lambda: make_operator("inpainting", bogus=1), "bogus"),
    ],
)
def test_bad_arguments(build, words):
    with pytest.raises(ValueError) as info:
        build()
    assert words in str(info.value)


def test_make_operator_and_boundaries():
    assert set(OPERATORS) == {
        "inpainting",
        "super_resolution",
        "gaussian_blur",
        "motion_blur",
        "phase_retrieval",
        "quantized_1bit",
    }
    assert isinstance(make_operator("Super-Resolution", factor=4), SuperResolution)
    assert make_operator("phase_retrieval", oversampling=4.0).measurement_shape((1, 1, 3, 3)) == (1, 1, 12, 12)
    assert PhaseRetrieval(oversampling=2.0).measurement_shape((1, 1, 3, 3)) == (1, 1, 6, 6)


def test_forward_operator_is_abstract():
    """ForwardOperator and LinearOperator are abstract base classes: a subclass that leaves out
    one of their abstract methods cannot be built; every registered operator and the tempered
    ones can."""
    assert ForwardOperator.__abstractmethods__ == {"forward", "measure", "log_likelihood", "measurement_shape"}
    assert LinearOperator.__abstractmethods__ == {"A", "measurement_shape"}
    with pytest.raises(TypeError, match="abstract"):
        ForwardOperator()

    class NoShape(LinearOperator):
        def A(self, x):
            return x

    with pytest.raises(TypeError, match="measurement_shape"):
        NoShape(0.1)
    for name in OPERATORS:
        op = make_operator(name)
        assert isinstance(op, ForwardOperator) and isinstance(op.tempered(2.0), ForwardOperator)


@pytest.mark.parametrize("name", OPERATORS)
def test_check_measurement_rejects_bad_y(name):
    op = make_operator(name, **({"kernel_size": 3} if "blur" in name else {}))
    shape = (2, 1, 8, 8)
    y = op.measure(torch.zeros(shape), generator=torch.Generator().manual_seed(0))
    op.check_measurement(y, shape)
    with pytest.raises(ValueError, match="must have shape"):
        op.check_measurement(y[:1], shape)
    with pytest.raises(ValueError, match="must have shape"):
        op.check_measurement(y, (2, 1, 16, 16))
    y[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        op.check_measurement(y, shape)
