r"""An auxiliary training loss on where the object of the predicted clip goes.

Measured on the bundled v3 model: from the same noise, "moving left" and "moving right" give the
same video, and the clean clip the model predicts from pure noise does not drift either way
(its object's centroid moves by less than a pixel over 16 frames for every direction word, where
training clips move 9-18 pixels). The plain denoising loss barely sees this: at the noise
levels where only the caption can say which way the object will go, it weights errors of the
clean clip by the signal-to-noise ratio, and the drift of one small object is a sliver of the
clip's squared error.

This loss asks for the drift directly. The clean clip predicted at step t,
:math:`\hat z_0 = (z_t - \sqrt{1-\bar a_t}\,\hat\varepsilon) / \sqrt{\bar a_t}` (clamped to
``[-CLAMP, CLAMP]``), is reduced per frame to the centroid of its latent *object mass*
:math:`m = \lVert z - \operatorname{median}_{hw} z \rVert_2` (over channels; the median over the
frame stands in for the background), and the track of centroids to its least-squares
displacement over the clip, :math:`D(z) \in \mathbb R^2` (latent pixels). Then

.. math::
    \mathcal L_\text{track} = \operatorname{mean} \lVert D(\hat z_0) - D(z_0) \rVert^2 / w^2

over the captioned samples (empty-prompt ones are skipped) with :math:`t \le` ``T_MAX``, where
:math:`\hat z_0` is not yet dominated by the amplified noise. Training adds ``weight *
L_track`` to the denoising loss. (A loss on a statistic of the predicted clean sample; this
one, and its use for direction, are ours.)

On a torus (world v5's wrapping clips, ``periodic=True``) the plain centroid is wrong for an
object that crosses an edge: its mass splits between the two sides and the centroid jumps by up
to a frame width, so a clip moving right can get a leftward displacement. There the training
clip's track is read first, each frame's position the circular mean
:math:`\frac{w}{2\pi}\arg \sum_x m_x e^{2\pi i x / w}` per axis, unwrapped by summing the
frame-to-frame steps taken in :math:`(-w/2, w/2]`. Then every frame of *both* clips is rolled by
the same whole pixels :math:`s` that bring that track's mean over the clip to the middle of the
frame, and each centroid is the plain one of the rolled frame plus :math:`s` (a 16-frame path,
at most 4.5 latent pixels, stays inside the rolled frame). The predicted clip is read around the
training clip's track, never on its own: a blurry prediction has no reliable circular mean, and
steps read from it would add up to any displacement at all. One roll for the whole clip, not one
per frame: rolled frame by frame onto the track, a prediction with no object at all (a uniform
mass) would read as the training clip's own motion and cost nothing; rolled once, it reads as no
motion.

``max_t`` (default ``T_MAX``) is the highest timestep the loss is taken at. A sample's direction
is settled between about t = 850 and 600 (``benchmarks/shapesworld_direction_settling.py``,
``results/shapesworld_direction_settling_v5b.json``: clips noised to t = 600 follow their own
motion whatever the word; from t = 700 or 800 they follow neither their own caption nor the
opposite word above chance), which is why the v5 runs raise it.
"""

from __future__ import annotations

import torch

from .frame_noise import per_frame_abar

CLAMP = 5.0  # latents are scaled to unit variance; the objects' values stay well inside
T_MAX = 700  # 1 / sqrt(abar) <= 12 for the linear betas of the bundled scheduler


def _object_mass(z: torch.Tensor) -> torch.Tensor:
    """(B, F, h, w) object mass of latents ``z`` (B, C, F, h, w): the distance over channels from
    each frame's median (the background)."""
    background = z.flatten(3).median(dim=-1).values[..., None, None]  # (B, C, F, 1, 1)
    return ((z - background) ** 2).sum(1).add(1e-6).sqrt()


def _centroids(mass: torch.Tensor) -> torch.Tensor:
    """(B, F, 2) plain centroids (x, y) of a (B, F, h, w) mass, in pixels."""
    h, w = mass.shape[-2:]
    xs = torch.arange(w, dtype=mass.dtype, device=mass.device) + 0.5
    ys = torch.arange(h, dtype=mass.dtype, device=mass.device) + 0.5
    total = mass.sum((-2, -1))
    return torch.stack([(mass.sum(-2) * xs).sum(-1) / total, (mass.sum(-1) * ys).sum(-1) / total], dim=-1)


def circular_track(z: torch.Tensor) -> torch.Tensor:
    """(B, F, 2) unwrapped track (x, y) of the object in latents ``z`` (B, C, F, h, w) on a torus,
    in pixels: the first frame's circular mean plus the running sum of the steps between the
    frames' circular means, each taken in (-n/2, n/2]."""
    mass = _object_mass(z)
    axes = []
    for profile in (mass.sum(-2), mass.sum(-1)):  # (B, F, w): x; (B, F, h): y
        n = profile.shape[-1]
        angle = 2 * torch.pi * (torch.arange(n, dtype=profile.dtype, device=profile.device) + 0.5) / n
        re, im = (profile * angle.cos()).sum(-1), (profile * angle.sin()).sum(-1)  # (B, F)
        (re0, im0), (re1, im1) = (re[:, :-1], im[:, :-1]), (re[:, 1:], im[:, 1:])
        step = torch.atan2(im1 * re0 - re1 * im0, re1 * re0 + im1 * im0)  # arg of c_{f+1} conj(c_f)
        track = torch.cat([torch.atan2(im[:, :1], re[:, :1]), step], dim=1).cumsum(1)
        axes.append(track * n / (2 * torch.pi))
    return torch.stack(axes, dim=-1)


def _rolled_centroids(mass: torch.Tensor, around: torch.Tensor) -> torch.Tensor:
    """(B, F, 2) centroids of a (B, F, h, w) mass on a torus, read with every frame of a clip
    rolled by the whole pixels that bring the mean of ``around`` (B, F, 2, unwrapped) over the
    clip to the middle, the roll added back."""
    h, w = mass.shape[-2:]
    middle = torch.tensor([w / 2, h / 2], dtype=around.dtype, device=around.device)
    shift = torch.round(around.detach().mean(1, keepdim=True) - middle).expand(-1, mass.shape[1], -1)
    sx, sy = shift[..., 0].long(), shift[..., 1].long()  # (B, F), the same for every frame
    cols = (torch.arange(w, device=mass.device) + sx[..., None]) % w  # (B, F, w)
    rows = (torch.arange(h, device=mass.device) + sy[..., None]) % h
    rolled = mass.gather(-1, cols[:, :, None, :].expand(-1, -1, h, -1))
    rolled = rolled.gather(-2, rows[:, :, :, None].expand(-1, -1, -1, w))
    return _centroids(rolled) + shift.to(mass.dtype)


def track_displacement(z: torch.Tensor, *, periodic: bool = False, around: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 2) least-squares displacement (x, y) over the clip of the object-mass centroid of
    latents ``z`` (B, C, F, h, w), in latent pixels. With ``periodic`` the frame is a torus: each
    frame is read around ``around`` (B, F, 2), an unwrapped track, by default ``z``'s own
    :func:`circular_track`."""
    f = z.shape[2]
    mass = _object_mass(z)
    if periodic:
        track = _rolled_centroids(mass, circular_track(z) if around is None else around)
    else:
        track = _centroids(mass)
    cx, cy = track[..., 0], track[..., 1]
    frames = torch.arange(f, dtype=z.dtype, device=z.device)
    frames = frames - frames.mean()
    scale = (f - 1) / (frames * frames).sum().clamp(min=1e-12)
    return torch.stack([(cx * frames).sum(-1), (cy * frames).sum(-1)], dim=-1) * scale


def track_loss(
    z0: torch.Tensor,
    noisy: torch.Tensor,
    t: torch.Tensor,
    eps: torch.Tensor,
    alphas_cumprod: torch.Tensor,
    captioned: torch.Tensor,
    *,
    periodic: bool = False,
    max_t: int = T_MAX,
) -> torch.Tensor:
    """:math:`\\mathcal L_\\text{track}` of the module doc for clips ``z0`` (B, C, F, h, w), their
    noisy versions at timesteps ``t`` (B,), or (B, F) with a level per frame, and the model's
    noise prediction ``eps``, over the samples with every frame at ``t <= max_t``; 0 (with a
    gradient path) when no sample qualifies. ``periodic``: the clips wrap (world v5)."""
    keep = captioned & ((t if t.ndim == 1 else t.amax(1)) <= max_t)
    if not keep.any():
        return eps.sum() * 0.0
    abar = per_frame_abar(alphas_cumprod.to(eps.device), t[keep], eps.ndim)
    z0_hat = ((noisy[keep] - (1 - abar).sqrt() * eps[keep].float()) / abar.sqrt()).clamp(-CLAMP, CLAMP)
    z0 = z0[keep].float()
    around = circular_track(z0) if periodic else None  # the training clip's track, for both
    target = track_displacement(z0, periodic=periodic, around=around)
    drift = track_displacement(z0_hat, periodic=periodic, around=around)
    return ((drift - target) ** 2).sum(-1).mean() / z0.shape[-1] ** 2
