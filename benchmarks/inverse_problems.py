"""DPnP and DAPS against DPS on held-out ShapesWorld frames, with the bundled ``shapesworld-ddpm`` as prior.

Test frames: held-out ShapesWorld frames (caption combinations the prior never saw) whose
object is partly hidden by the centred inpainting box (30-70 % of its bounding box inside it), so
that inpainting completes a partly seen shape rather than guessing one it cannot see; the same
frames serve every problem (``--combinations seen``: frames of combinations the prior was trained on
instead). Problems (32 x 32 RGB in [-1, 1], one seeded measurement per frame),
first the three tasks of the DPnP paper with its noise levels, then two of ours:

* ``sr4``: x4 average-pooling super-resolution (8 x 8 measured), noise std 0.2;
* ``phase-retrieval``: coded Fourier magnitudes, oversampling 2 (the paper's ``oversample: 4``),
  noise std 0.2;
* ``1bit``: one sign per pixel, logistic dither of scale 0.4;
* ``inpaint-box``: the centred half-side box removed, noise std 0.05;
* ``deblur``: Gaussian blur, sigma 1.5 px (11-tap kernel), noise std 0.05.

Methods at the same total of network evaluations per sample (NFE; ``--nfe``, default 250),
Tweedie estimates clipped to [-1, 1]:

* ``DPS``: NFE ancestral steps, its step size chosen per problem from 1 / 3 (10 was never the best in earlier runs);
* ``DPnP``: the authors' recipe (``dpnp_recipe("authors")``): a DPS warm start of 74.4 % of the budget
  (186 steps at NFE 250) with DPS's chosen step size, then the official schedule (K = 16) with DDIM denoising,
  the rest of the budget split evenly (4 steps per iteration at NFE 250), and the authors' sharpened
  likelihood; its clipping (only while eta >= 0.25, or never after the warm start) chosen per problem;
* ``DPnP-posterior``: the exact-posterior mode (``dpnp_recipe("posterior")``): from noise, true
  likelihood, eta from 1 down to 0.02 with NFE / 10 iterations of at most 10 DDPM steps (fewer
  at the smallest etas, which have fewer training steps below them: about 190 at NFE 250).
* ``DAPS``: the authors' DAPS (``daps_recipe("authors")``: sigma 100 -> 0.1, their Langevin x0-step and
  likelihood scale tau = 0.01, 1-bit at w = 3.86) with the budget as NFE / 2 annealing levels of 2 Euler
  ODE steps (125 x 2 at NFE 250; on 4 validation frames it beat 50 x 5 by 1.9 / 2.2 / 2.3 dB on SR /
  phase retrieval / 1-bit);
* ``DAPS-posterior`` (``--methods``, not in the default run): the exact-posterior mode
  (``daps_recipe("posterior")``): NFE levels down to 0.01, one ODE step (Tweedie) each, the exact x0-step
  or MALA, the true likelihood.

``--own-defaults`` adds each method at its own default budget beside the matched one: DPS with
every training step (1000) and the library's step size 1, the authors' DAPS-1K (200 levels x 5 ODE
steps), and DPnP's recipe (its 250, the same rows as the matched table).

Choices are made by the PSNR of the posterior mean on separate validation frames (``--no-tune``:
the library's defaults instead, which came from such choices). Phase
retrieval's per-channel signs are an exact ambiguity of the measurement: every method picks them
with the prior (24 extra evaluations each), but on held-out ShapesWorld frames the prior's
denoising loss often prefers a flipped colour to the true one, so phase retrieval is scored up to them
(each sample flipped to the signs closest to the truth before the mean is taken).

Robustness (``--robustness``): the paper's claim is robustness to score error. The same three
paper tasks are rerun with a perturbed prior, ``eps(x, t) + delta * e`` with e a fixed seeded
standard normal image (a score error of relative RMS size delta, default 0.3), every method at
its setting chosen for the exact prior; reported is the PSNR loss of each method.

Per frame, ``--samples`` posterior samples give the posterior mean and per-pixel std. Reported:
PSNR and SSIM of the posterior mean (mean and standard error over frames), PSNR of single
samples, calibration (fraction of pixels within 2 std of the mean; with the mean and std taken
from n samples a calibrated sampler gets ``calibrated_coverage(n)``, 0.775 for 3 samples, tending
to 0.954, stored as ``coverage_if_calibrated``), the per-frame PSNR gain of each DPnP variant
over DPS, and wall time per sample.

    python benchmarks/inverse_problems.py --no-tune --frames 12 --samples 3 --publish
                                   # the published run (inverse_problems.json): about 25 min on one thread
    python benchmarks/inverse_problems.py --problems sr4 --no-tune --frames 12 --samples 8 --no-robustness \
        --tag _sr4_8samples        # SR's calibration with 8 samples per frame
    python benchmarks/inverse_problems.py --problems sr4 --no-tune --frames 12 --samples 3 --no-robustness \
        --likelihood-weight 4 --tag _sr4_w4   # SR with a sharper likelihood than the authors' (w = 1.78)
    python benchmarks/inverse_problems.py --problems sr4 --no-tune --frames 12 --samples 3 --no-robustness \
        --combinations seen --tag _sr4_seen   # SR on frames of caption combinations the prior was trained on
                                              # (and with --likelihood-weight 4 --tag _sr4_seen_w4)
    python benchmarks/inverse_problems.py --problems sr4 phase-retrieval 1bit --no-tune --frames 12 --samples 3 \
        --no-robustness --truth-start --tag _truth_start   # DPnP's refinement from the true images too
                                              # (and SR with --likelihood-weight 4 --tag _truth_start_sr4_w4)
    python benchmarks/inverse_problems.py --nfe 1000 --no-tune --frames 4 --samples 3 --tag _nfe1000
                                   # the paper's budget: about 40 min on one thread
    python benchmarks/inverse_problems.py --problems 1bit --nfe 1000 --no-robustness --frames 4 --samples 3 \
        --tag _nfe1000_1bit_tuned  # 1-bit at 1000 with the step sizes chosen for that budget
    python benchmarks/inverse_problems.py            # with the validation choices, 3 frames x 4 samples
    python benchmarks/inverse_problems.py --quick    # ~3 min (smoke test)
    python benchmarks/inverse_problems.py --problems sr4 phase-retrieval 1bit --no-tune --frames 4 --samples 3 \
        --warm-start-share 0.36 --tag _warm36   # DPnP's earlier budget split (90 + 16 x 10 at NFE 250)
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import published_results
import torch
from shared import DEFAULT_PRIOR, load_prior, pyplot, save_figure, show_images

from plugdiff.evaluation.image_quality import calibrated_coverage, coverage, psnr, ssim
from plugdiff.pipelines.posterior.annealing import AnnealingSchedule
from plugdiff.pipelines.posterior.daps import daps_sample
from plugdiff.pipelines.posterior.daps_recipes import DAPSRecipe, daps_recipe
from plugdiff.pipelines.posterior.dpnp import dpnp_sample
from plugdiff.pipelines.posterior.dpnp_recipes import DPnPRecipe, dpnp_recipe
from plugdiff.pipelines.posterior.dps import dps_sample
from plugdiff.pipelines.posterior.operators import (
    GaussianBlur,
    Inpainting,
    PhaseRetrieval,
    Quantized1Bit,
    SuperResolution,
)
from plugdiff.shapesworld.world import HELD_OUT, sample_frames
from plugdiff.shapesworld.world import truth as frame_truth

PROBLEMS = {
    "sr4": lambda: SuperResolution(4, "average", noise_std=0.2),
    "phase-retrieval": lambda: PhaseRetrieval(2.0, noise_std=0.2),
    "1bit": lambda: Quantized1Bit(0.4),
    "inpaint-box": lambda: Inpainting("box", box=INPAINT_BOX, noise_std=0.05),
    "deblur": lambda: GaussianBlur(sigma=1.5, noise_std=0.05),
}
PAPER_TASKS = ("sr4", "phase-retrieval", "1bit")
METHODS = ("DPS", "DPnP", "DPnP-posterior", "DAPS")
ALL_METHODS = (*METHODS, "DAPS-posterior")  # --methods chooses among these (DPS always runs: the gains' reference)
OWN_DEFAULTS = ("DPS-1000", "DAPS-1K")  # --own-defaults: each method at its own default budget
DAPS_ODE_STEPS = 2  # at the matched budget: NFE / 2 levels x 2 ODE steps (chosen on validation frames over 50 x 5)
OWN_NFE = 1000  # the own-default budget of DPS (every training step) and DAPS (DAPS-1K)
QUICK_OWN_NFE = 72  # --quick: 2 x its NFE
TRUTH_START = "DPnP-from-truth"  # --truth-start: DPnP's refinement started from the true image (a diagnostic)
DPS_STEP_SIZES = (1.0, 3.0)
DPNP_CLIPPING = (0.25, 1.0)  # clip while eta >= c (1.0: never in the refinement); the warm start clips
_LIBRARY_SPLIT = dpnp_recipe("authors", PROBLEMS["sr4"]())  # the warm start's steps do not depend on the operator
WARM_START_SHARE = (
    _LIBRARY_SPLIT.init_steps / _LIBRARY_SPLIT.model_evals
)  # of DPnP's budget: 186 of 250, the library's split
INPAINT_BOX = (0.25, 0.25, 0.5, 0.5)  # (top, left, height, width) as fractions: Inpainting's default
HIDDEN_RANGE = (0.3, 0.7)  # part of the object's bounding box inside the box, for a test frame
TEST_SEED, VALIDATION_SEED = 7, 8
COMBINATIONS = ("held-out", "seen")  # caption combinations of the frames: never trained on, or trained on


class Prior:
    """The image prior as the samplers take it: ``prior(x_t, t)`` is the pipeline's own
    ``eps_model`` (``shared.load_prior``), ``prior.alphas_cumprod`` its noise schedule; with
    ``delta`` > 0 a perturbed one, ``eps + delta * e`` with e a fixed seeded standard normal image."""

    def __init__(self, model: str | Path, delta: float = 0.0):
        self.pipe = load_prior(model)
        self.alphas_cumprod = self.pipe.alphas_cumprod
        self.delta = delta
        config = self.pipe.unet.config
        shape = (1, config.in_channels, config.sample_size, config.sample_size)
        self.error = torch.randn(shape, generator=torch.Generator().manual_seed(1234))

    def __call__(self, x_t, t):
        eps = self.pipe.eps_model(x_t, t)
        return eps + self.delta * self.error if self.delta else eps


@dataclass(frozen=True)
class Recipes:
    """Each method's recipe at the run's budgets: ``nfe`` evaluations per sample at the matched
    budget, ``own_nfe`` for DPS-1000 and DAPS-1K. DPnP's warm start takes ``warm_start_share`` of
    its budget, and its likelihood weight is ``likelihood_weight`` (None: the authors', per operator)."""

    nfe: int
    own_nfe: int = OWN_NFE
    warm_start_share: float = WARM_START_SHARE
    likelihood_weight: float | None = None

    def dpnp(self, method: str, operator, dps_step: float, clip) -> DPnPRecipe:
        """The DPnP recipe of ``method`` within the matched budget."""
        if method == "DPnP":
            warm = max(1, round(self.warm_start_share * self.nfe))
            steps = max(1, (self.nfe - warm) // 16)
            weight = {} if self.likelihood_weight is None else {"likelihood_weight": self.likelihood_weight}
            return dpnp_recipe(
                "authors",
                operator,
                init_steps=warm,
                init_step_size=dps_step,
                num_dds_steps=steps,
                clip_denoised=clip,
                **weight,
            )
        return dpnp_recipe("posterior", operator, etas=AnnealingSchedule(1.0, 0.02, max(2, self.nfe // 10)))

    def daps(self, method: str, operator) -> DAPSRecipe:
        """The DAPS recipe of ``method`` within the matched budget ("DAPS-1K": the authors' own budget)."""
        if method == "DAPS-1K":  # the authors' 200 levels x 5 ODE steps (--quick: fewer levels)
            return daps_recipe("authors", operator, num_levels=self.own_nfe // 5)
        if method == "DAPS":
            return daps_recipe(
                "authors", operator, num_levels=max(1, self.nfe // DAPS_ODE_STEPS), ode_steps=DAPS_ODE_STEPS
            )
        return daps_recipe("posterior", operator, num_levels=self.nfe)

    def matched_budget(self, operator) -> int:
        """The budget every method gets (DPS's steps): the DPnP recipe's total within ``nfe``."""
        return self.dpnp("DPnP", operator, 1.0, True).model_evals


def hidden_fraction(spec, size: int) -> float:
    """Part of the object's bounding box that lies inside the inpainting box."""
    x0, y0, x1, y1 = frame_truth(spec, 1, size)[0].bbox
    top, left, height, width = (f * size for f in INPAINT_BOX)
    overlap_x = max(0.0, min(x1, left + width) - max(x0, left))
    overlap_y = max(0.0, min(y1, top + height) - max(y0, top))
    return overlap_x * overlap_y / ((x1 - x0) * (y1 - y0))


def benchmark_frames(n: int, seed: int, size: int = 32, combinations: str = "held-out") -> torch.Tensor:
    """``n`` frames with the object partly hidden by the inpainting box (``HIDDEN_RANGE``), of
    caption combinations the prior never saw (``combinations="held-out"``) or of ones it was
    trained on (``"seen"``)."""
    if combinations not in COMBINATIONS:
        raise ValueError(f"`combinations` must be one of {COMBINATIONS}, got {combinations!r}.")
    vocab = {"combos": HELD_OUT} if combinations == "held-out" else {}
    generator, picked = torch.Generator().manual_seed(seed), []
    while len(picked) < n:
        images, _, specs = sample_frames(4 * n, generator, size, **vocab)
        low, high = HIDDEN_RANGE
        picked += [img for img, spec in zip(images, specs, strict=True) if low <= hidden_fraction(spec, size) <= high]
    return torch.stack(picked[:n])


def restore(
    method: str,
    prior: Prior,
    operator,
    y: torch.Tensor,
    image_shape,
    recipes: Recipes,
    seed: int,
    setting,
    init: torch.Tensor | None = None,
):
    """Posterior samples for the measurements ``y`` (one chain per row) and the wall time.
    ``setting``: DPS's step size, DPnP's (warm-start step size, clipping), None for DPnP-posterior.
    ``init``: a DPnP chain's starting images instead of the recipe's start."""
    generator = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    if method in ("DPS", "DPS-1000"):
        steps = recipes.own_nfe if method == "DPS-1000" else recipes.matched_budget(operator)
        out = dps_sample(
            prior,
            prior.alphas_cumprod,
            operator,
            y,
            step_size=setting,
            num_steps=steps,
            image_shape=image_shape,
            clip_denoised=True,
            generator=generator,
        )
    elif method.startswith("DAPS"):
        kwargs = recipes.daps(method, operator).sampler_kwargs()
        out = daps_sample(
            prior, prior.alphas_cumprod, operator, y, **kwargs, image_shape=image_shape, generator=generator
        )
    else:
        kwargs = recipes.dpnp(method, operator, *(setting or (1.0, True))).sampler_kwargs()
        if init is not None:
            kwargs["init"] = init
        with torch.no_grad():
            out = dpnp_sample(
                prior, prior.alphas_cumprod, operator, y, **kwargs, image_shape=image_shape, generator=generator
            )
    return out.samples.clamp(-1, 1), out.model_evals, time.perf_counter() - t0


def align_to_truth(operator, samples: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Each sample replaced by the one of its exact ambiguities (phase retrieval's channel signs)
    closest to the truth: scores "up to the measurement's ambiguity", as phase retrieval is scored."""
    candidates = torch.stack([samples, *operator.ambiguities(samples)])
    if len(candidates) == 1:
        return samples
    errors = ((candidates - truth) ** 2).flatten(2).mean(2)
    return candidates[errors.argmin(0), torch.arange(len(samples))]


def evaluate(
    method, prior, operator, truth, samples_per_frame, recipes, seed, setting, start_at_truth: bool = False
) -> tuple[dict, torch.Tensor]:
    """Measure each frame once, draw ``samples_per_frame`` posterior samples, score them.
    ``start_at_truth``: start DPnP's chains at the true images (no warm start)."""
    n = len(truth)
    y = operator.measure(truth, generator=torch.Generator().manual_seed(seed))
    chains = y.repeat_interleave(samples_per_frame, 0)
    shape = (n * samples_per_frame, *truth.shape[1:])
    init = truth.repeat_interleave(samples_per_frame, 0) if start_at_truth else None
    samples, model_evals, seconds = restore(method, prior, operator, chains, shape, recipes, seed + 1, setting, init)
    samples = align_to_truth(operator, samples, truth.repeat_interleave(samples_per_frame, 0))
    samples = samples.reshape(n, samples_per_frame, *truth.shape[1:])
    mean, std = samples.mean(1), samples.std(1)
    frame_psnr = psnr(mean, truth)
    sample_psnr = psnr(samples.flatten(0, 1), truth.repeat_interleave(samples_per_frame, 0))
    row = {
        "setting": setting,
        "nfe": model_evals,
        "psnr": float(frame_psnr.mean()),
        "psnr_se": float(frame_psnr.std() / n**0.5) if n > 1 else 0.0,
        "ssim": float(ssim(mean, truth).mean()),
        "sample_psnr": float(sample_psnr.mean()),
        "coverage_2std": float(coverage(mean, std, truth).mean()),
        "seconds_per_sample": seconds / (n * samples_per_frame),
        "psnr_per_frame": frame_psnr.tolist(),
    }
    return row, mean


def tune(method, settings, prior, operator, frames, samples_per_frame, recipes) -> tuple:
    """The setting with the best posterior-mean PSNR on validation frames, and every score."""
    scores = {
        s: evaluate(method, prior, operator, frames, samples_per_frame, recipes, VALIDATION_SEED, s)[0]["psnr"]
        for s in settings
    }
    return max(scores, key=scores.get), {str(s): v for s, v in scores.items()}


def run_problem(name, prior, truth, validation, recipes, args) -> tuple[dict, dict]:
    operator = PROBLEMS[name]()
    valid = (prior, operator, validation, args.validation_samples, recipes)
    if args.tune:
        dps_step, dps_scores = tune("DPS", DPS_STEP_SIZES, *valid)
        dpnp_choice, dpnp_scores = tune("DPnP", [(dps_step, clip) for clip in DPNP_CLIPPING], *valid)
    else:  # the library's defaults: the recipe's warm-start step size and clipping
        recipe = dpnp_recipe("authors", operator)
        dps_step, dps_scores = recipe.init_step_size, {}
        dpnp_choice, dpnp_scores = (dps_step, recipe.clip_denoised), {}
    settings = {"DPS": dps_step, "DPnP": dpnp_choice, "DPnP-posterior": None, "DAPS": None, "DAPS-posterior": None}
    rows, means = {}, {}
    for method in args.methods:
        rows[method], means[method] = evaluate(
            method, prior, operator, truth, args.samples, recipes, TEST_SEED, settings[method]
        )
        print(
            f"  {name} {method}: {rows[method]['psnr']:.2f} dB ({rows[method]['seconds_per_sample']:.2f} s/sample)",
            flush=True,
        )
    if args.truth_start:
        rows[TRUTH_START], means[TRUTH_START] = evaluate(
            "DPnP", prior, operator, truth, args.samples, recipes, TEST_SEED, settings["DPnP"], start_at_truth=True
        )
    add_gains(rows)
    result = {
        "operator": operator.config(),
        "validation_psnr": {"DPS": dps_scores, "DPnP": dpnp_scores},
        "settings": settings,
        "methods": rows,
    }
    if args.own_defaults:
        result["own_defaults"] = run_own_defaults(name, prior, operator, truth, rows, recipes, args)
    return result, means


def run_own_defaults(name, prior, operator, truth, matched: dict, recipes, args) -> dict:
    """DPS and DAPS at their own default budgets (DPS-1000 with the library's step size 1, DAPS-1K),
    DPnP's recipe copied from the matched rows (its own budget is the matched one)."""
    rows = {}
    for method, setting in (("DPS-1000", 1.0), ("DAPS-1K", None)):
        rows[method] = evaluate(method, prior, operator, truth, args.samples, recipes, TEST_SEED, setting)[0]
        print(
            f"  {name} {method}: {rows[method]['psnr']:.2f} dB ({rows[method]['seconds_per_sample']:.2f} s/sample)",
            flush=True,
        )
    if "DPnP" in matched:
        rows["DPnP"] = {**matched["DPnP"], "same_as": "the matched table's DPnP row"}
    for method in [m for m in rows if m != "DAPS-1K"]:
        add_paired_gain(rows["DAPS-1K"], rows[method], method)
    return rows


def add_gains(rows: dict) -> None:
    """Per-frame PSNR gain of each method over DPS (mean and standard error), and of DAPS over DPnP."""
    dps = torch.tensor(rows["DPS"]["psnr_per_frame"], dtype=torch.float64)
    for method in [m for m in rows if m != "DPS"]:
        gain = torch.tensor(rows[method]["psnr_per_frame"], dtype=torch.float64) - dps
        rows[method]["gain_over_dps_db"] = float(gain.mean())
        rows[method]["gain_se_db"] = float(gain.std() / len(gain) ** 0.5) if len(gain) > 1 else 0.0
    for method in [m for m in rows if m.startswith("DAPS")]:
        if "DPnP" in rows:
            add_paired_gain(rows[method], rows["DPnP"], "DPnP")


def add_paired_gain(row: dict, reference: dict, name: str) -> None:
    """``row``'s per-frame PSNR gain over ``reference`` (mean and standard error), as gain_over_<name>_db."""
    gain = torch.tensor(row["psnr_per_frame"], dtype=torch.float64) - torch.tensor(
        reference["psnr_per_frame"], dtype=torch.float64
    )
    key = name.lower().replace("-", "_")
    row[f"gain_over_{key}_db"] = float(gain.mean())
    row[f"gain_over_{key}_se_db"] = float(gain.std() / len(gain) ** 0.5) if len(gain) > 1 else 0.0


def run_robustness(report: dict, truth, recipes, args) -> dict:
    """Each paper task again under the perturbed prior, at the settings chosen for the exact one."""
    prior = Prior(args.model, delta=args.delta)
    section = {"delta": args.delta, "problems": {}}
    for name in [p for p in PAPER_TASKS if p in report["problems"]]:
        operator, exact = PROBLEMS[name](), report["problems"][name]
        rows = {}
        for method in [m for m in args.methods if m in exact["methods"]]:
            rows[method] = evaluate(
                method, prior, operator, truth, args.samples, recipes, TEST_SEED, exact["settings"][method]
            )[0]
            rows[method]["psnr_loss_db"] = exact["methods"][method]["psnr"] - rows[method]["psnr"]
        add_gains(rows)
        section["problems"][name] = rows
        print(
            f"robustness {name}: " + ", ".join(f"{m} {-r['psnr_loss_db']:+.2f} dB" for m, r in rows.items()),
            flush=True,
        )
    return section


def print_table(report: dict) -> None:
    print(
        f"\nNFE {report['nfe']} per sample, {report['frames']} {report['combinations']} frames x {report['samples']} "
        f"samples (a calibrated sampler has {calibrated_coverage(report['samples']):.3f} within 2 std at this sample "
        "count)"
    )
    print(
        f"{'problem':16} {'method':16} {'NFE':>4} {'PSNR (mean)':>13} {'SSIM':>6} {'PSNR (1 smp)':>12} "
        f"{'within 2std':>11} {'gain vs DPS':>12} {'vs DPnP':>12} {'s/sample':>8}  setting"
    )

    def gain(r, key, se):
        return f"{r[key]:+.2f}+-{r[se]:.2f}" if key in r else "-"

    def line(name, method, r):
        print(
            f"{name:16} {method:16} {r['nfe']:4d} {r['psnr']:8.2f}+-{r['psnr_se']:.2f} {r['ssim']:6.3f} "
            f"{r['sample_psnr']:12.2f} {r['coverage_2std']:11.3f} {gain(r, 'gain_over_dps_db', 'gain_se_db'):>12} "
            f"{gain(r, 'gain_over_dpnp_db', 'gain_over_dpnp_se_db'):>12} {r['seconds_per_sample']:8.3f}  "
            f"{r['setting']}"
        )

    for name, problem in report["problems"].items():
        for method, r in problem["methods"].items():
            line(name, method, r)
    if any("own_defaults" in p for p in report["problems"].values()):
        print("\nEach method at its own default budget (DAPS-1K's gains are over DPS-1000 and DPnP):")
        for name, problem in report["problems"].items():
            for method, r in problem.get("own_defaults", {}).items():
                r = dict(r)
                if method == "DAPS-1K":
                    r["gain_over_dps_db"], r["gain_se_db"] = r["gain_over_dps_1000_db"], r["gain_over_dps_1000_se_db"]
                else:
                    r.pop("gain_over_dps_db", None)
                line(name, method, r)
    robustness = report.get("robustness")
    if robustness:
        print(
            f"\nPerturbed prior (eps + {robustness['delta']} e): PSNR of the posterior mean and loss against the "
            "exact prior"
        )
        for name, rows in robustness["problems"].items():
            print(
                f"{name:16} " + "  ".join(f"{m} {r['psnr']:.2f} ({-r['psnr_loss_db']:+.2f})" for m, r in rows.items())
            )


def plot(truth: torch.Tensor, means: dict, path: Path, columns: int = 4) -> None:
    """Per problem, a row block: truth, then each method's posterior mean, for the first frames."""
    plt = pyplot()
    labels = ["truth", *next(iter(means.values())).keys()]
    fig, axes = plt.subplots(
        len(means), len(labels), figsize=(1.9 * len(labels), 1.9 * len(means) * 0.55), squeeze=False
    )

    for row, (name, by_method) in enumerate(means.items()):
        for col, label in enumerate(labels):
            ax = axes[row, col]
            show_images(ax, (truth if label == "truth" else by_method[label])[:columns])
            if row == 0:
                ax.set_title(label, fontsize=9)
            if col == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_PRIOR)
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--nfe", type=int, default=250, help="network evaluations per sample (default 250)")
    parser.add_argument("--frames", type=int, default=3, help="held-out test frames (default 3)")
    parser.add_argument("--samples", type=int, default=4, help="posterior samples per frame (default 4)")
    parser.add_argument("--validation-frames", type=int, default=1, help="frames for the settings' choice")
    parser.add_argument(
        "--robustness",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="rerun the paper's tasks with a perturbed prior (default: on)",
    )
    parser.add_argument("--delta", type=float, default=0.3, help="score error of the perturbed prior")
    parser.add_argument(
        "--tune",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="choose DPS's step size and DPnP's clipping on validation frames (--no-tune: the "
        "library's defaults, dpnp_recipe('authors'))",
    )
    parser.add_argument("--validation-samples", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 frames x 2 samples at NFE 20 (smoke test)")
    parser.add_argument(
        "--warm-start-share",
        type=float,
        default=WARM_START_SHARE,
        help=f"part of the budget for DPnP's DPS warm start (default {WARM_START_SHARE})",
    )
    parser.add_argument(
        "--likelihood-weight",
        type=float,
        default=None,
        help="DPnP's likelihood weight w on every problem (default: the authors', per operator)",
    )
    parser.add_argument(
        "--combinations",
        choices=COMBINATIONS,
        default="held-out",
        help="caption combinations of the test and validation frames: held out from the prior's "
        "training (default) or seen in it",
    )
    parser.add_argument(
        "--truth-start",
        action="store_true",
        help=f"also run DPnP's refinement from the true images ({TRUTH_START}; no warm start): a "
        "diagnostic of how good a point estimate the refinement's law is",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=ALL_METHODS,
        default=list(METHODS),
        help="methods at the matched budget (default: all but DAPS-posterior; DPS always runs)",
    )
    parser.add_argument(
        "--own-defaults",
        action="store_true",
        help="also run DPS (1000 steps, step size 1) and DAPS-1K at their own default budgets",
    )
    parser.add_argument("--tag", default="", help="suffix of the output files (inverse_problems<tag>.json)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = published_results.parse_args(parser, argv)
    if args.quick:
        args.nfe, args.frames, args.samples, args.validation_frames, args.validation_samples = 36, 2, 2, 1, 2
    for flag in ("nfe", "frames", "samples", "validation_frames", "validation_samples"):
        if getattr(args, flag) < (2 if flag in ("samples", "validation_samples") else 1):
            parser.error(f"--{flag.replace('_', '-')} is too small: {getattr(args, flag)}")
    if not 0 < args.warm_start_share < 1:
        parser.error(f"--warm-start-share must be in (0, 1), got {args.warm_start_share}")
    if args.likelihood_weight is not None and not 0 < args.likelihood_weight < float("inf"):
        parser.error(f"--likelihood-weight must be > 0, got {args.likelihood_weight}")
    recipes = Recipes(
        args.nfe,
        own_nfe=QUICK_OWN_NFE if args.quick else OWN_NFE,
        warm_start_share=args.warm_start_share,
        likelihood_weight=args.likelihood_weight,
    )
    args.methods = ["DPS", *[m for m in ALL_METHODS if m in args.methods and m != "DPS"]]
    torch.manual_seed(0)
    prior = Prior(args.model)
    truth = benchmark_frames(args.frames, TEST_SEED, combinations=args.combinations)
    validation = benchmark_frames(args.validation_frames, VALIDATION_SEED, combinations=args.combinations)
    report = {
        "model": args.model.name,
        "combinations": args.combinations,
        "nfe": args.nfe,
        "frames": args.frames,
        "samples": args.samples,
        "coverage_if_calibrated": calibrated_coverage(args.samples),
        "validation_frames": args.validation_frames,
        "dps_step_sizes": list(DPS_STEP_SIZES),
        "dpnp_clipping": list(DPNP_CLIPPING),
        "tuned": args.tune,
        "warm_start_share": recipes.warm_start_share,
        "dpnp_likelihood_weight": recipes.likelihood_weight or "authors",
        "inpaint_box": list(INPAINT_BOX),
        "hidden_range": list(HIDDEN_RANGE),
        "methods": args.methods,
        "daps_ode_steps": DAPS_ODE_STEPS,
        "own_defaults_nfe": recipes.own_nfe if args.own_defaults else None,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "problems": {},
    }
    suffix = "_quick" if args.quick else args.tag
    args.out.mkdir(parents=True, exist_ok=True)
    all_means = {}
    paper = [p for p in args.problems if p in PAPER_TASKS]
    for i, name in enumerate(paper + [p for p in args.problems if p not in PAPER_TASKS]):
        t0 = time.perf_counter()
        report["problems"][name], all_means[name] = run_problem(name, prior, truth, validation, recipes, args)
        report["problems"][name]["seconds"] = time.perf_counter() - t0
        print(f"{name}: done in {report['problems'][name]['seconds']:.0f} s", flush=True)
        if args.robustness and i == len(paper) - 1:  # the paper's claim first
            report["robustness"] = run_robustness(report, truth, recipes, args)
        # after every problem: nothing lost
        published_results.write_json(args.out / f"inverse_problems{suffix}.json", report, models=[args.model])
    print_table(report)
    plot(truth, all_means, args.out / f"inverse_problems{suffix}.png")
    return report


if __name__ == "__main__":
    main()
