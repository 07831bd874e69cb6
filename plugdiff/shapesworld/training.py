"""The training loop every bundled model shares: AdamW, an exponential moving average of the
weights, safetensors checkpoints that resume to the bit, and a progress bar.

A model's trainer subclasses :class:`Trainer` and gives ``loss()`` (one batch) and
``export(out)`` (write the EMA weights as a diffusers folder).
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..media.fileio import atomic_write, write_json
from .frame_noise import diagonal_timesteps, per_frame_abar


class Trainer:
    r"""Minimise ``self.loss()`` with AdamW (gradient norm clipped at 1) and keep an exponential
    moving average :math:`\bar\theta \leftarrow d\,\bar\theta + (1-d)\,\theta` with
    :math:`d = \min(\text{ema}, (1+k)/(10+k))` at step k (the EMA is what gets exported).

    Args:
        args: the parsed command line (``lr``, ``ema``, ``seed``, ``device``, ``mixed_precision``
            are read here).
        models: the trainable modules by name; parameters whose ``requires_grad`` is off at a step
            are left alone (the optimizer only keeps moments for parameters it has updated).

    ``self.data`` and ``self.noise`` are CPU generators seeded from ``args.seed`` (+1, +2) for the
    subclass's data and noise draws; their states are part of the checkpoint.
    """

    def __init__(self, args, models: dict[str, torch.nn.Module]):
        self.args = args
        self.device = torch.device(args.device)
        self.models = {name: m.to(self.device).train() for name, m in models.items()}
        self.ema = {name: copy.deepcopy(m).eval().requires_grad_(False) for name, m in self.models.items()}
        params = [p for m in self.models.values() for p in m.parameters()]
        self.optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
        self.data = torch.Generator().manual_seed(args.seed + 1)
        self.noise = torch.Generator().manual_seed(args.seed + 2)
        self.step = 0
        self.losses: list[float] = []
        self.seconds = 0.0  # training wall time so far (resumes with the checkpoint)
        self.curve: list[dict] = []  # one row per export: step, seconds, mean loss, evaluate()'s scores

    def loss(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def export(self, out: Path) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def evaluate(self, out: Path) -> dict | None:
        """Scores of the export in ``out`` for the training curve; None: no scores (the default)."""
        return None

    def autocast(self):
        """bf16 autocast for the forward pass when ``--mixed-precision bf16`` (weights, optimizer
        and EMA stay float32), otherwise nothing."""
        if getattr(self.args, "mixed_precision", "no") == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def randn(self, shape) -> torch.Tensor:
        """Standard normal noise from ``self.noise`` (drawn on the CPU: the same on any device)."""
        return torch.randn(shape, generator=self.noise).to(self.device)

    def epsilon_loss(
        self,
        scheduler,
        x0: torch.Tensor,
        predict,
        *,
        max_weight: float = 1.0,
        extra=None,
        focus=None,
        frame_share: float = 0.0,
    ) -> torch.Tensor:
        r"""Epsilon-prediction loss (Ho et al., NeurIPS 2020, Algorithm 1) for one batch:
        :math:`w_t \lVert \varepsilon - \varepsilon_\theta(\sqrt{\bar a_t} x_0 + \sqrt{1-\bar a_t}\,
        \varepsilon, t)\rVert^2` with t uniform over the scheduler's training steps, one per
        sample. ``predict(noisy, t)`` runs the model (under :meth:`autocast`).

        :math:`w_t = \min(\text{max\_weight}, \max(1, 1/\mathrm{SNR}_t))`: 1 everywhere by default
        (the plain loss); above 1, the truncated-SNR weighting of Salimans & Ho (ICLR 2022,
        :math:`\max(\lVert x_0 - \hat x_0\rVert^2, \lVert \varepsilon - \hat\varepsilon\rVert^2)`)
        capped at ``max_weight`` and divided by its mean over t (the loss keeps its scale):
        errors of the predicted clean sample count more at high noise, where only the caption can
        say what the sample will be.

        ``focus = (low, high, share)``, if given, draws each sample's t uniformly from
        [low, high] with probability ``share`` instead of from all training steps: more of the
        batch lands where a decision is made (the weight above stays a function of t).

        ``frame_share`` > 0 (clips ``x0`` of shape (B, C, F, h, w) only) gives that share of the
        clips a noise level per frame rising along the frames around the clip's t
        (:func:`~.frame_noise.diagonal_timesteps`); ``t`` is then (B, F) for every clip, for
        ``predict``, the weight and ``extra`` alike.

        ``extra(noisy, t, pred)``, if given, is a further loss on the same prediction, added."""
        noise = self.randn(x0.shape)
        n = x0.shape[0]
        t = torch.randint(0, scheduler.config.num_train_timesteps, (n,), generator=self.noise)
        if focus is not None:
            low, high, share = focus
            focused = torch.rand(n, generator=self.noise) < share
            t = torch.where(focused, torch.randint(low, high + 1, (n,), generator=self.noise), t)
        t = t.to(self.device)
        if frame_share:
            t = diagonal_timesteps(t, x0.shape[2], frame_share, self.noise, scheduler.config.num_train_timesteps)
            abar = per_frame_abar(scheduler.alphas_cumprod, t, x0.ndim)
            noisy = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        else:
            noisy = scheduler.add_noise(x0, noise, t)
        with self.autocast():
            pred = predict(noisy, t)
        if max_weight == 1.0:
            loss = torch.nn.functional.mse_loss(pred.float(), noise)
        else:
            squared = (pred.float() - noise).pow(2)  # per sample, or per frame where t is (B, F)
            per_sample = squared.flatten(1).mean(1) if t.ndim == 1 else squared.mean((1, 3, 4))
            abar = scheduler.alphas_cumprod.to(self.device, torch.float64)
            weight = ((1 - abar) / abar).clamp(1.0, max_weight)
            weight = (weight / weight.mean())[t].to(per_sample.dtype)
            loss = (weight * per_sample).mean()
        return loss if extra is None else loss + extra(noisy, t, pred)

    # ------------------------------------------------------------------ one step
    def train_step(self) -> float:
        loss = self.loss()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainable = [p for m in self.models.values() for p in m.parameters() if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        self.optimizer.step()
        with torch.no_grad():
            decay = min(self.args.ema, (1 + self.step) / (10 + self.step))
            for name, model in self.models.items():
                for e, p in zip(self.ema[name].parameters(), model.parameters(), strict=True):
                    e.lerp_(p, 1 - decay)
        self.step += 1
        return loss.item()

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for prefix, group in (("model", self.models), ("ema", self.ema)):
            for name, module in group.items():
                tensors.update({f"{prefix}.{name}.{k}": v.contiguous() for k, v in module.state_dict().items()})
        for i, state in self.optimizer.state_dict()["state"].items():
            for key, value in state.items():
                tensors[f"opt.{i}.{key}"] = torch.as_tensor(value).contiguous()
        tensors["rng.data"] = self.data.get_state()
        tensors["rng.noise"] = self.noise.get_state()
        atomic_write(folder / "state.safetensors", lambda tmp: save_file(tensors, str(tmp)))
        meta = {
            "step": self.step,
            "losses": self.losses,
            "seconds": self.seconds,
            "curve": self.curve,
            "args": vars(self.args),
        }
        write_json(folder / "state.json", meta)

    def load_checkpoint(self, folder: Path) -> None:
        tensors = load_file(str(folder / "state.safetensors"), device=str(self.device))
        meta = json.loads((folder / "state.json").read_text())
        for prefix, group in (("model", self.models), ("ema", self.ema)):
            for name, module in group.items():
                head = f"{prefix}.{name}."
                module.load_state_dict({k[len(head) :]: v for k, v in tensors.items() if k.startswith(head)})
        state = self.optimizer.state_dict()
        opt_state: dict = {}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, index, name = key.split(".", 2)
                opt_state.setdefault(int(index), {})[name] = value
        state["state"] = opt_state
        self.optimizer.load_state_dict(state)
        self.data.set_state(tensors["rng.data"].cpu())
        self.noise.set_state(tensors["rng.noise"].cpu())
        self.step, self.losses = meta["step"], meta["losses"]
        self.seconds, self.curve = meta.get("seconds", 0.0), meta.get("curve", [])


def export_folder(out: Path, write) -> None:
    """Call ``write(tmp_folder)``, then move what it wrote into ``out`` (replacing files and
    folders of the same names, leaving others such as ``checkpoint/`` alone): a failed export
    leaves the previous one in place."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as tmp:
        write(Path(tmp))
        for item in sorted(Path(tmp).iterdir()):
            target = out / item.name
            if target.is_dir():
                shutil.rmtree(target)
            item.replace(target)


def run(trainer: Trainer, out: Path, *, steps: int, checkpoint_every: int, resume: bool, desc: str) -> Trainer:
    """Train to ``steps`` (resuming from ``<out>/checkpoint`` if ``resume``), writing a checkpoint
    and an export every ``checkpoint_every`` steps and at the end."""
    checkpoint = out / "checkpoint"
    if resume:
        if not (checkpoint / "state.safetensors").exists():
            raise SystemExit(f"--resume: no checkpoint in {checkpoint}")
        trainer.load_checkpoint(checkpoint)
    with tqdm(total=steps, initial=trainer.step, desc=desc) as bar:
        while trainer.step < steps:
            start = time.perf_counter()
            trainer.losses.append(round(trainer.train_step(), 5))
            trainer.seconds += time.perf_counter() - start
            bar.update(1)
            recent = trainer.losses[-50:]
            bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}")
            if trainer.step % checkpoint_every == 0 or trainer.step == steps:
                export_folder(out, trainer.export)
                recent = trainer.losses[-checkpoint_every:]
                row = {
                    "step": trainer.step,
                    "seconds": round(trainer.seconds, 1),
                    "loss": round(sum(recent) / len(recent), 5),
                    "scores": trainer.evaluate(out),
                }
                trainer.curve.append(row)
                trainer.save_checkpoint(checkpoint)
                write_json(out / "training_curve.json", {"args": vars(trainer.args), "curve": trainer.curve})
    return trainer
