"""Backbones: packaged weights, weight resolution, and per-family splitting into ordered blocks."""
