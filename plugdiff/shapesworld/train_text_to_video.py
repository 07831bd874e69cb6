"""Training of ``shapesworld-t2v``, the ShapesWorld text-to-video model (AnimateDiff layout)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import diffusers
import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    MotionAdapter,
    UNet2DConditionModel,
    UNetMotionModel,
)
from transformers import CLIPTextModel, CLIPTokenizer

from ..pipelines.animatediff.frame_timesteps import FrameTimesteps
from .caption_agreement import direction_steering, direction_word_drift, score_triples, seen_triples
from .direction_probe import DirectionProbe
from .models import (
    CAPTION_TOKENS,
    LATENT_FACTOR,
    frozen_text_embeddings,
    motion_adapter,
    text_to_video_unet,
    video_scheduler,
    world_text_encoder,
    world_tokenizer,
)
from .track_loss import track_loss
from .training import Trainer
from .word_contrast import opposite_token_map, swap_directions, word_contrast_loss
from .world import DIRECTIONS, HELD_OUT, parse_caption, sample_clips

_ENCODE_CHUNK = 1024  # frames per VAE call while building the latent pool
WORD_DRIFT_T = (750, 850, 950)  # where a v5 clip's direction is decided (direction-settling benchmark)


class TextToVideoTrainer(Trainer):
    r"""AnimateDiff's two-stage recipe (Guo et al., ICLR 2024) with epsilon prediction:
    :math:`\min \mathbb E \lVert \varepsilon - \varepsilon_\theta(\sqrt{\bar a_t} z_0 +
    \sqrt{1-\bar a_t}\varepsilon, t, \tau(c))\rVert^2` over latents :math:`z_0` of the frozen frame
    autoencoder and captions c (replaced by the empty prompt with probability ``uncond_prob``, for
    classifier-free guidance).

    1. Steps ``[0, image_steps)``: the spatial UNet and the text encoder on single frames (the
       motion modules are frozen at their zero-output initialisation).
    2. Steps ``[image_steps, steps)``: everything, motion modules included, on
       ``frames``-frame clips, plus ``image_mix`` single frames of other captions in the same
       loss (the mean of the clip term and the frame term): a batch of 8 clips holds only 8
       captions, too few for the text side to keep learning.

    The text encoder's word and position embeddings stay fixed (a new one is
    :func:`world_text_encoder`), and new tokenizers make prompts ``CAPTION_TOKENS`` tokens long.

    Data: a pool of ``pool_clips`` random clips (held-out caption combinations excluded, placed in
    the frame as ``placement`` says), drawn once from the seed and encoded once; each step samples
    from it. The export is an
    AnimateDiff folder: ``unet`` (UNet2DConditionModel), ``motion_adapter`` (MotionAdapter),
    ``vae``, ``text_encoder``, ``tokenizer``, ``scheduler``. ``init`` (a folder of such an
    export) starts the weights from it instead of from scratch (a warm start: fresh optimizer
    moments and EMA equal to the starting weights); with ``fresh_text`` only the UNet and the
    motion adapter come from it, and the tokenizer and text encoder are new.

    ``clip_weight_max`` > 1 weights the clip term's loss by the capped truncated-SNR weight of
    :meth:`~.training.Trainer.epsilon_loss` (single frames keep the plain loss): a clip's
    direction is decided at high noise, where the plain loss barely counts errors of the clean
    clip.

    With ``track_loss`` > 0, that multiple of :func:`~.track_loss.track_loss` (the predicted
    clean clip's object drift against the training clip's, on a torus for world v5) is added to every
    clip term, at timesteps up to ``track_max_t``.

    With ``clip_t_focus = (low, high, share)``, that share of the clip terms' timesteps is drawn
    from [low, high] (:meth:`~.training.Trainer.epsilon_loss`'s ``focus``): on world v5 a clip's
    direction is decided at t of about 600-850
    (``benchmarks/results/shapesworld_direction_settling_v5b.json``), which uniform t gives a
    quarter of the batches.

    With ``word_contrast`` > 0 (and the track loss on), that multiple of
    :func:`~.word_contrast.word_contrast_loss` is added to every clip term: run again with the
    caption's direction words swapped, the model must predict the opposite drift at timesteps
    from ``word_contrast.MIN_T`` to ``track_max_t``.

    With ``frame_noise`` > 0, that share of the clip terms gets a noise level per frame, rising
    along the frames as in FIFO-Diffusion's windows (:mod:`.frame_noise`); the UNet then takes
    its timesteps per frame through
    :class:`~plugdiff.pipelines.animatediff.frame_timesteps.FrameTimesteps`, as the FIFO host runs
    it. The track loss and the word contrast count such a clip where every frame is in their
    range.

    With ``motion_only``, the clip stage trains the motion modules alone (the spatial layers and
    the text encoder stay as ``init`` left them): on a v5 export the direction word is already
    in the features the motion modules read (its probe reads it from every frame at every t),
    and what is missing is a motion module that uses it.

    With ``direction_probe`` > 0, that multiple of :class:`~.direction_probe.DirectionProbe`'s
    loss is added to every batch's loss (the probe's heads are trained, not exported): it carries
    the caption's direction word into the features the motion modules read.

    With ``eval_clips`` > 0, every export is scored (:meth:`evaluate`): ``eval_clips`` clips for
    each held-out triple and for as many seen ones, 20 DDIM steps, guidance 6, and
    :func:`~.caption_agreement.direction_steering` from ``2 * eval_clips`` noises, and
    :func:`~.caption_agreement.direction_word_drift` on ``eval_clips`` movers per direction at
    ``WORD_DRIFT_T`` (where a v5 clip's direction is decided).
    """

    def __init__(self, args):
        torch.manual_seed(args.seed)
        load = {"use_safetensors": True}
        if args.init is None or args.fresh_text:
            self.tokenizer = world_tokenizer(CAPTION_TOKENS)
            text_encoder = world_text_encoder(len(self.tokenizer), seed=args.seed)
        else:
            self.tokenizer = CLIPTokenizer.from_pretrained(args.init / "tokenizer")
            text_encoder = CLIPTextModel.from_pretrained(args.init / "text_encoder", **load)
        frozen_text_embeddings(text_encoder)  # a warm start keeps the embeddings fixed too
        if args.init is None:
            unet = UNetMotionModel.from_unet2d(text_to_video_unet(args.size // LATENT_FACTOR), motion_adapter())
        else:
            unet = UNetMotionModel.from_unet2d(
                UNet2DConditionModel.from_pretrained(args.init / "unet", **load),
                MotionAdapter.from_pretrained(args.init / "motion_adapter", **load),
            )
        models = {"unet": unet, "text_encoder": text_encoder}
        if args.direction_probe:
            models["direction_probe"] = DirectionProbe(unet)
        super().__init__(args, models)
        if args.direction_probe:
            self.models["direction_probe"].attach(self.models["unet"])
        self.frame_unet = FrameTimesteps(self.models["unet"])  # plain calls of the UNet are unchanged
        self.vae = AutoencoderKL.from_pretrained(args.vae, use_safetensors=True).to(self.device).eval()
        self.vae.requires_grad_(False)
        self.scheduler = video_scheduler()
        self.latents, self.input_ids, self.mix_ids, self.mix_weights, self.directions = self._latent_pool()
        self.uncond_ids = self._tokenize([""])
        self.opposite_tokens = opposite_token_map(self.tokenizer)

    def _tokenize(self, captions: list[str]) -> torch.Tensor:
        tok = self.tokenizer
        ids = tok(
            captions, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt"
        )
        return ids.input_ids.to(self.device)

    @torch.no_grad()
    def _latent_pool(self) -> tuple[torch.Tensor, ...]:
        """(pool_clips, frames, 4, h, w) scaled latent means; the captions' token ids, those of
        the mixes' other ends (the caption itself where a clip has no mix) and the per-frame mix
        weights (pool_clips, frames); the captions' directions (indices into ``DIRECTIONS``)."""
        pool = torch.Generator().manual_seed(self.args.seed + 3)
        clips, captions, specs = sample_clips(
            self.args.pool_clips,
            self.args.frames,
            pool,
            size=self.args.size,
            placement=self.args.placement,
            **self._world(),
        )
        frames = clips.flatten(0, 1)
        latents = torch.cat(
            [self.vae.encode(chunk.to(self.device)).latent_dist.mean for chunk in frames.split(_ENCODE_CHUNK)]
        )
        latents = latents * self.vae.config.scaling_factor
        directions = torch.tensor([DIRECTIONS.index(parse_caption(c)["direction"]) for c in captions])
        others = [s.mix_caption or s.caption for s in specs]
        t = np.arange(self.args.frames)
        weights = torch.tensor(np.stack([s.mix.weight(t) if s.mix else np.zeros(len(t)) for s in specs]))
        return (
            latents.unflatten(0, clips.shape[:2]),
            self._tokenize(captions),
            self._tokenize(others),
            weights.float().to(self.device),
            directions.to(self.device),
        )

    def _world(self) -> dict:
        """``sample_clips``' keyword arguments for the training world (v5: its mix shares and the
        share of centred paths)."""
        if self.args.world != "v5":
            return {"world": self.args.world}
        mix, transition = self.args.v5_shares
        return {"world": "v5", "mix_share": mix, "transition_share": transition, "centred_share": self.args.v5_centred}

    @property
    def wraps(self) -> bool:
        """Whether the training clips wrap around the frame (world v5), so tracks are read on the torus."""
        return self.args.world == "v5"

    def video_stage(self) -> bool:
        return self.step >= self.args.image_steps

    def _batch(self, batch: int, *, clips: bool) -> tuple[torch.Tensor, ...]:
        """(B, C, F, h, w) latents (F = 1 for single frames); the token ids of their captions and
        of their mixes' other ends (both replaced by the empty prompt with probability
        ``uncond_prob``) and the (B, F) mix weights; directions and which samples kept their
        caption."""
        n_clips, n_frames = self.latents.shape[:2]
        clip = torch.randint(n_clips, (batch,), generator=self.data).to(self.device)
        if clips:
            z0, weights = self.latents[clip], self.mix_weights[clip]  # (B, F, C, h, w), (B, F)
        else:
            frame = torch.randint(n_frames, (batch,), generator=self.data).to(self.device)
            z0, weights = self.latents[clip, frame][:, None], self.mix_weights[clip, frame][:, None]
        drop = (torch.rand(batch, generator=self.data) < self.args.uncond_prob).to(self.device)
        ids = torch.where(drop[:, None], self.uncond_ids, self.input_ids[clip])
        mix_ids = torch.where(drop[:, None], self.uncond_ids, self.mix_ids[clip])
        # (B, C, F, h, w): UNetMotionModel's layout
        return z0.transpose(1, 2), (ids, mix_ids, weights), self.directions[clip], ~drop

    def _text(self, ids: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """(B * F, L, D) per-frame text conditions: the convex mix ``(1 - w) tau(a) + w tau(b)``
        of the encoded caption and its mix's other end with the frame's weight w (the caption
        alone where w = 0, as on every clip without a mix: then it is not encoded twice)."""
        caption, other, weights = ids
        text = self.models["text_encoder"](caption)[0]  # (B, L, D)
        frames = weights.shape[1]
        text = text[:, None].expand(-1, frames, -1, -1)
        if weights.any():
            w = weights[:, :, None, None].to(text.dtype)
            text = (1 - w) * text + w * self.models["text_encoder"](other)[0][:, None]
        return text.flatten(0, 1)

    def _epsilon_loss(
        self,
        z0: torch.Tensor,
        ids: tuple,
        directions: torch.Tensor,
        captioned: torch.Tensor,
        max_weight: float = 1.0,
        focus=None,
    ) -> torch.Tensor:
        def predict(noisy, t):
            return self._unet(noisy, t, self._text(ids))

        extra = None
        if self.args.track_loss and z0.shape[2] > 1:
            abar = self.scheduler.alphas_cumprod
            periodic = self.wraps

            def extra(noisy, t, pred):
                loss = self.args.track_loss * track_loss(
                    z0, noisy, t, pred, abar, captioned, periodic=periodic, max_t=self.args.track_max_t
                )
                if self.args.word_contrast:
                    loss = loss + self.args.word_contrast * self._word_contrast(z0, ids, captioned, noisy, t)
                return loss

        frame_share = self.args.frame_noise if z0.shape[2] > 1 else 0.0
        loss = self.epsilon_loss(
            self.scheduler, z0, predict, max_weight=max_weight, extra=extra, focus=focus, frame_share=frame_share
        )
        if self.args.direction_probe:
            probe = self.models["direction_probe"].loss(directions, z0.shape[2], captioned)
            loss = loss + self.args.direction_probe * probe
        return loss

    def _unet(self, noisy: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """The training UNet's noise prediction, with a timestep per clip (B,) or per frame (B, F)
        (through :class:`~plugdiff.pipelines.animatediff.frame_timesteps.FrameTimesteps`)."""
        unet = self.models["unet"] if t.ndim == 1 else self.frame_unet
        return unet(noisy, t, encoder_hidden_states=text).sample

    def _word_contrast(self, z0, ids: tuple, captioned, noisy, t) -> torch.Tensor:
        """:func:`~.word_contrast.word_contrast_loss` of a clip batch: the model run again on the
        eligible samples with their direction words swapped (unseen by the direction probe)."""
        caption, other, weights = ids
        swapped = swap_directions(caption, self.opposite_tokens), swap_directions(other, self.opposite_tokens)
        eligible = captioned & (swapped[0] != caption).any(1)

        def predict_swapped(index, noisy, t):
            text = self._text((swapped[0][index], swapped[1][index], weights[index]))
            probe = self.models["direction_probe"] if self.args.direction_probe else None
            with probe.paused() if probe is not None else contextlib.nullcontext():
                return self._unet(noisy, t, text)

        abar = self.scheduler.alphas_cumprod
        return word_contrast_loss(
            z0, noisy, t, predict_swapped, abar, eligible, periodic=self.wraps, max_t=self.args.track_max_t
        )

    def loss(self) -> torch.Tensor:
        video = self.video_stage()
        motion_only = video and self.args.motion_only
        for name, p in self.models["unet"].named_parameters():
            p.requires_grad_("motion_modules" in name if motion_only else video or "motion_modules" not in name)
        if motion_only:
            self.models["text_encoder"].requires_grad_(False)
        if not video:
            return self._epsilon_loss(*self._batch(self.args.image_batch, clips=False))
        loss = self._epsilon_loss(
            *self._batch(self.args.batch, clips=True),
            max_weight=self.args.clip_weight_max,
            focus=self.args.clip_t_focus,
        )
        if self.args.image_mix:
            loss = (loss + self._epsilon_loss(*self._batch(self.args.image_mix, clips=False))) / 2
        return loss

    @torch.no_grad()
    def evaluate(self, out: Path) -> dict | None:
        """Held-out and seen caption agreement of the export in ``out`` (None when
        ``eval_clips`` is 0)."""
        if not self.args.eval_clips:
            return None
        from ..pipelines import TiaraAnimateDiffPipeline

        pipe = TiaraAnimateDiffPipeline.from_pretrained(out, use_safetensors=True).to(self.device)
        pipe.set_progress_bar_config(disable=True)
        groups = {"held_out": sorted(HELD_OUT), "seen": seen_triples(len(HELD_OUT))}
        scores = {
            group: score_triples(
                pipe,
                triples,
                per_triple=self.args.eval_clips,
                steps=20,
                guidance=6.0,
                batch=len(triples) * self.args.eval_clips,
            )[0]
            for group, triples in groups.items()
        }
        scores["steering"] = direction_steering(pipe, noises=2 * self.args.eval_clips, steps=20, guidance=6.0)
        scores["word_drift"] = direction_word_drift(
            pipe, per_direction=self.args.eval_clips, timesteps=WORD_DRIFT_T, guidance=6.0
        )
        return scores

    @torch.no_grad()
    def export(self, out: Path) -> None:
        """The EMA weights as an AnimateDiff folder that ``AnimateDiffPipeline`` (and
        ``TiaraAnimateDiffPipeline``) load with ``from_pretrained``."""
        weights = self.ema["unet"].state_dict()
        unet, adapter = text_to_video_unet(self.args.size // LATENT_FACTOR), motion_adapter()
        unet.load_state_dict({k: v for k, v in weights.items() if "motion_modules" not in k})
        adapter.load_state_dict({k: v for k, v in weights.items() if "motion_modules" in k})
        components = {
            "unet": unet,
            "motion_adapter": adapter,
            "vae": self.vae,
            "text_encoder": self.ema["text_encoder"],
            "tokenizer": self.tokenizer,
            "scheduler": self.scheduler,
        }
        index = {"_class_name": "AnimateDiffPipeline", "_diffusers_version": diffusers.__version__}
        for name, component in components.items():
            kwargs = {} if name in ("tokenizer", "scheduler") else {"safe_serialization": True}
            component.save_pretrained(out / name, **kwargs)
            library = type(component).__module__.split(".")[0]
            index[name] = [library, type(component).__name__]
        index["feature_extractor"] = index["image_encoder"] = [None, None]
        (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
