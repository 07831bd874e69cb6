"""The one mechanism by which TiARA, SpectralBlend and PromptBlend put their processors on a video
UNet's attention layers and take them off again (:class:`ProcessorInstallation`), and the layer
lookups they share.

Every processor of theirs wraps the processor it replaces (its ``fallback``), so processors stack
in chains: PromptBlend's over SDPA on cross-attention; on temporal self-attention SpectralBlend's
over TiARA's over SDPA. ``enable_*`` builds one installation per method and UNet with
:func:`install_processors`, ``disable_*`` removes it with :func:`remove_processors`, and
``tiara_controller`` / ``spectral_blend_controller`` find its controller with
:func:`find_controller`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from diffusers import UNet3DConditionModel, UNetMotionModel

#: The UNet attribute holding ``{method: ProcessorInstallation}``.
_INSTALLATIONS_ATTR = "_plugdiff_installations"


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


def unet_and_timesteps(pipe_or_unet, num_train_timesteps: int | None) -> tuple:
    """(the UNet, T): a pipeline's ``.unet`` or the UNet itself, and ``num_train_timesteps`` or,
    when None, the pipeline scheduler's (1000 without a scheduler)."""
    unet = getattr(pipe_or_unet, "unet", pipe_or_unet)
    if num_train_timesteps is None:
        scheduler = getattr(pipe_or_unet, "scheduler", None)
        num_train_timesteps = scheduler.config.num_train_timesteps if scheduler is not None else 1000
    return unet, num_train_timesteps


class ProcessorInstallation:
    """One method's processors on one UNet: where they are, how they are put back when something
    replaces them, and how they come off.

    * **Install** (:meth:`install`): every selected layer whose processor chain lacks this
      installation's processor gets ``make(name, inner)``, a processor that wraps ``inner``. It
      goes on top of the layer's chain, or, with ``beneath_wrappers``, beneath the processors
      that compute attention through the one they wrap (``wraps_attention``, e.g.
      SpectralBlend's), so that it changes the attention those compute (TiARA).
    * **Self-heal**: a forward pre-hook on the UNet gives each call's arguments to ``on_call``
      (TiARA reads the timestep there) and re-installs on layers whose processors were replaced
      since (diffusers' ``enable_free_noise`` rebuilds the motion blocks;
      ``enable_xformers_memory_efficient_attention`` and ``set_attn_processor`` reset processors),
      so the order in which those and ``enable_*`` are called does not matter.
    * **Remove** (:meth:`remove`): each processor it installed is taken out of whatever chain it
      sits in (the processor it wrapped takes its place), and the hooks come off.

    Build and store one with :func:`install_processors` rather than directly.

    Args:
        unet: the UNet.
        controller: the method's state, shared by its processors (returned by ``enable_*``).
        select: ``select(processor_name)``, whether a layer (named as in ``unet.attn_processors``)
            gets a processor.
        make: ``make(processor_name, inner)``, the processor for a layer, wrapping ``inner``.
        beneath_wrappers: install beneath ``wraps_attention`` processors rather than on top.
        on_call: ``on_call(args, kwargs)`` with each UNet call's arguments, before the call.
    """

    def __init__(
        self,
        unet,
        controller,
        select: Callable[[str], bool],
        make: Callable,
        *,
        beneath_wrappers: bool = False,
        on_call: Callable | None = None,
    ):
        self.unet = unet
        self.controller = controller
        self.select = select
        self.make = make
        self.beneath_wrappers = beneath_wrappers
        self.on_call = on_call
        self.installed: dict = {}
        self._attention_modules: dict = {}
        self.hooks = [unet.register_forward_pre_hook(self._before_forward, with_kwargs=True)]

    def _before_forward(self, module, args, kwargs):
        if self.on_call is not None:
            self.on_call(args, kwargs)
        if not self._still_in_place():
            self.install()

    def _still_in_place(self) -> bool:
        """Cheap check, run before every UNet call: each recorded attention module is still at
        its path and still holds this installation's processor. (The full walk of
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
        """Put this installation's processor on every selected layer whose chain lacks it."""
        current = self.unet.attn_processors
        selected = [n for n in current if self.select(n)]
        replaced = {}
        for name in selected:
            if _holds(current[name], self.installed.get(name)):
                continue
            parent, inner = None, current[name]
            while self.beneath_wrappers and getattr(inner, "wraps_attention", False):
                parent, inner = inner, inner.fallback
            self.installed[name] = self.make(name, inner)
            if parent is None:
                replaced[name] = self.installed[name]
            else:
                parent.fallback = self.installed[name]
        if replaced:
            self.unet.set_attn_processor({n: replaced.get(n, p) for n, p in current.items()})
        paths = {name: name.removesuffix(".processor") for name in selected}
        self._attention_modules = {name: (path, self.unet.get_submodule(path)) for name, path in paths.items()}

    def remove(self) -> None:
        """Take each installed processor out of its layer's chain, wherever it sits, and remove
        the hooks."""
        current = self.unet.attn_processors
        replaced = {}
        for name, processor in current.items():
            ours = self.installed.get(name)
            if ours is None:
                continue
            if processor is ours:
                replaced[name] = ours.fallback
                continue
            for outer in _chain(processor):
                if getattr(outer, "fallback", None) is ours:
                    outer.fallback = ours.fallback
                    break
        if replaced:
            self.unet.set_attn_processor({n: replaced.get(n, p) for n, p in current.items()})
        for hook in self.hooks:
            hook.remove()


def _chain(processor) -> Iterable:
    """``processor`` and the processors it wraps (via ``fallback``), outermost first."""
    while processor is not None:
        yield processor
        processor = getattr(processor, "fallback", None)


def _holds(processor, target) -> bool:
    """Whether ``target`` is ``processor`` or sits beneath it in a chain of ``fallback``s."""
    return target is not None and any(p is target for p in _chain(processor))


def install_processors(
    unet,
    method: str,
    controller,
    select: Callable[[str], bool],
    make: Callable,
    *,
    beneath_wrappers: bool = False,
    on_call: Callable | None = None,
    hooks: Iterable[Callable] = (),
) -> ProcessorInstallation:
    """Replace ``method``'s installation on ``unet`` (if any) by a new
    :class:`ProcessorInstallation` with these arguments, install it and store it on the UNet.

    Args:
        unet: the UNet.
        method: the method's name, the installation's key ("TiARA", "SpectralBlend", ...).
        controller, select, make, beneath_wrappers, on_call: as in :class:`ProcessorInstallation`.
        hooks: zero-argument callables that each register one more hook (on a submodule) and
            return its handle; the hooks come off with the processors.

    Returns:
        The installation.
    """
    remove_processors(unet, method)
    installation = ProcessorInstallation(
        unet, controller, select, make, beneath_wrappers=beneath_wrappers, on_call=on_call
    )
    installation.hooks.extend(register() for register in hooks)
    installation.install()
    installations = unet.__dict__.setdefault(_INSTALLATIONS_ATTR, {})
    installations[method] = installation
    return installation


def remove_processors(pipe_or_unet, method: str) -> None:
    """Take ``method``'s installation off a pipeline's UNet (or the UNet; see
    :meth:`ProcessorInstallation.remove`); a no-op where it is not installed."""
    unet = getattr(pipe_or_unet, "unet", pipe_or_unet)
    installation = unet.__dict__.get(_INSTALLATIONS_ATTR, {}).pop(method, None)
    if installation is not None:
        installation.remove()


def find_controller(pipe_or_unet, method: str):
    """The controller of ``method``'s installation on a pipeline's UNet (or on the UNet), or None."""
    unet = getattr(pipe_or_unet, "unet", pipe_or_unet)
    installation = unet.__dict__.get(_INSTALLATIONS_ATTR, {}).get(method)
    return installation.controller if installation is not None else None
