"""Install TiARA on the temporal attention layers of a video UNet, and take it off again."""

from __future__ import annotations

from diffusers import UNet3DConditionModel, UNetMotionModel

from .steps import in_step_range, scalar_timestep
from .tiara import TiaraAttnProcessor, TiaraSettings

_STATE_ATTR = "_plugdiff_tiara"


def temporal_predicate(unet, method: str = "TiARA"):
    """``is_temporal(processor_name)`` for a video UNet; a TypeError naming ``method`` for any
    other model."""
    if isinstance(unet, UNetMotionModel):
        return lambda name: ".motion_modules." in name
    if isinstance(unet, UNet3DConditionModel):
        return lambda name: name.startswith("transformer_in.") or ".temp_attentions." in name
    raise TypeError(
        f"{method} acts on video UNets: expected a UNetMotionModel (AnimateDiff) or a "
        f"UNet3DConditionModel, got {type(unet).__name__}."
    )


def temporal_processor_names(unet) -> list[str]:
    """Names (as in ``unet.attn_processors``) of the temporal self-attention processors:
    AnimateDiff motion modules in a ``UNetMotionModel``; ``transformer_in`` and the
    ``temp_attentions`` in a ``UNet3DConditionModel``."""
    is_temporal = temporal_predicate(unet)
    return [name for name in unet.attn_processors if is_temporal(name)]


class TiaraController:
    """TiARA's state on one UNet: settings, the processors it replaced, and the current step.

    A forward pre-hook on the UNet reads each call's ``timestep`` (motion modules receive no
    ``cross_attention_kwargs``, so this is how processors learn the step) and re-installs TiARA
    on temporal layers whose processors were replaced since (diffusers' ``enable_free_noise``
    rebuilds the motion blocks; ``enable_xformers_memory_efficient_attention`` resets every
    processor), so the order in which those are called does not matter. Use
    :func:`enable_tiara` / :func:`disable_tiara` rather than this class directly.
    """

    def __init__(self, unet, settings: TiaraSettings, num_train_timesteps: int):
        self.unet = unet
        self.settings = settings
        self.num_train_timesteps = num_train_timesteps
        self.timestep: float | None = None
        self._is_temporal = temporal_predicate(unet)
        self.originals: dict = {}
        self.installed: dict = {}
        self._attention_modules: dict = {}
        self._hook = unet.register_forward_pre_hook(self._before_forward, with_kwargs=True)

    def is_active(self, settings: TiaraSettings) -> bool:
        """Whether the current denoising step lies in ``settings.step_range``."""
        return in_step_range(self.timestep, self.num_train_timesteps, settings.step_range)

    def _before_forward(self, module, args, kwargs):
        timestep = kwargs.get("timestep", args[1] if len(args) > 1 else None)
        if timestep is not None:
            self.timestep = scalar_timestep(timestep)
        if not self._still_in_place():
            self.install()

    def _still_in_place(self) -> bool:
        """Cheap check, run before every UNet call: each recorded temporal attention module is
        still at its path and still holds this controller's processor. (The full walk of
        ``unet.attn_processors`` costs ~6 ms on an SD-1.5-sized UNet.)"""
        resolved = {"": self.unet}  # each shared ancestor path is resolved once

        def resolve(path: str):
            if path not in resolved:
                parent, _, child = path.rpartition(".")
                resolved[path] = resolve(parent)._modules.get(child)
            return resolved[path]

        return all(
            _holds(attention.processor, self.installed[name]) and resolve(path) is attention
            for name, (path, attention) in self._attention_modules.items()
        )

    def install(self) -> None:
        """Put TiARA on every temporal layer that does not carry this controller's processor: on
        top, or beneath processors that compute attention through the one they wrap
        (``wraps_attention``, e.g. SpectralBlend's), so that TiARA reweights the attention they
        compute."""
        current = self.unet.attn_processors
        temporal = [n for n in current if self._is_temporal(n)]
        stale = [n for n in temporal if not _holds(current[n], self.installed.get(n))]
        replaced = {}
        for name in stale:
            parent, inner = None, current[name]
            while getattr(inner, "wraps_attention", False):
                parent, inner = inner, inner.fallback
            self.originals[name] = inner
            self.installed[name] = TiaraAttnProcessor(self.settings, inner, controller=self)
            if parent is None:
                replaced[name] = self.installed[name]
            else:
                parent.fallback = self.installed[name]
        if replaced:
            self.unet.set_attn_processor({n: replaced.get(n, p) for n, p in current.items()})
        paths = {name: name.removesuffix(".processor") for name in temporal}
        self._attention_modules = {name: (path, self.unet.get_submodule(path)) for name, path in paths.items()}

    def remove(self) -> None:
        """Restore the processors TiARA replaced (wherever in a chain of wrapping processors it
        sits) and detach from the UNet."""
        current = self.unet.attn_processors
        replaced = {}
        for name, processor in current.items():
            ours = self.installed.get(name)
            if ours is None:
                continue
            if processor is ours:
                replaced[name] = ours.fallback
                continue
            outer = processor
            while outer is not None and getattr(outer, "fallback", None) is not ours:
                outer = getattr(outer, "fallback", None)
            if outer is not None:
                outer.fallback = ours.fallback
        if replaced:
            self.unet.set_attn_processor({n: replaced.get(n, p) for n, p in current.items()})
        self._hook.remove()


def _holds(processor, target) -> bool:
    """Whether ``target`` is ``processor`` or sits beneath it in a chain of ``fallback``s."""
    while processor is not None:
        if processor is target:
            return True
        processor = getattr(processor, "fallback", None)
    return False


def unet_and_timesteps(pipe_or_unet, num_train_timesteps):
    unet = getattr(pipe_or_unet, "unet", pipe_or_unet)
    if num_train_timesteps is None:
        scheduler = getattr(pipe_or_unet, "scheduler", None)
        num_train_timesteps = scheduler.config.num_train_timesteps if scheduler is not None else 1000
    return unet, num_train_timesteps


def enable_tiara(pipe_or_unet, settings: TiaraSettings | None = None, *, num_train_timesteps: int | None = None, **params) -> TiaraController:
    """Install TiARA on the temporal attention layers of a pipeline's UNet (or of a UNet).

    Spatial and cross-attention layers keep their processors (SDPA, xformers, ...). Calling it
    again replaces the settings; :func:`disable_tiara` restores exactly the processors that were
    there before.

    Args:
        pipe_or_unet: a pipeline with ``.unet`` (AnimateDiff / text-to-video) or the UNet itself
            (``UNetMotionModel`` or ``UNet3DConditionModel``).
        settings: a :class:`TiaraSettings`, or pass its fields as keyword arguments
            (``alpha=5.0, window_length=7, band=None, adaptive=True, per_head=True,
            step_range=(0.0, 1.0)``).
        num_train_timesteps: T for ``step_range``; default: the pipeline scheduler's, else 1000.

    Returns:
        The :class:`TiaraController` attached to the UNet.
    """
    if settings is not None and params:
        raise ValueError("pass either `settings` or TiARA keyword arguments, not both.")
    settings = settings if settings is not None else TiaraSettings(**params)
    unet, num_train_timesteps = unet_and_timesteps(pipe_or_unet, num_train_timesteps)
    temporal_predicate(unet)  # type check before touching anything
    disable_tiara(unet)
    controller = TiaraController(unet, settings, num_train_timesteps)
    controller.install()
    setattr(unet, _STATE_ATTR, controller)
    return controller


def disable_tiara(pipe_or_unet) -> None:
    """Take TiARA off (restoring the replaced processors); a no-op where it is not installed."""
    unet = getattr(pipe_or_unet, "unet", pipe_or_unet)
    controller = getattr(unet, _STATE_ATTR, None)
    if controller is not None:
        controller.remove()
        delattr(unet, _STATE_ATTR)


def tiara_controller(pipe_or_unet) -> TiaraController | None:
    """The controller installed on this UNet, if any."""
    return getattr(getattr(pipe_or_unet, "unet", pipe_or_unet), _STATE_ATTR, None)
