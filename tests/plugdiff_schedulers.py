"""The plugdiff schedulers every conformance test runs over: add a new scheduler class here."""

from plugdiff.samplers import AcceleratedDDIMScheduler, AcceleratedDDPMScheduler, AcceleratedLogSNRScheduler

SCHEDULERS = [AcceleratedDDIMScheduler, AcceleratedDDPMScheduler, AcceleratedLogSNRScheduler]
