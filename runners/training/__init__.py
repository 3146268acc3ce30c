"""Training machinery shared by all runners: batch sources (cached/uncached), optimiser, loop."""
