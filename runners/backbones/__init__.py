"""Backbones: offline weight zoo, weight resolution, and per-family splitting into ordered blocks."""
