"""The knowledge files, shipped as package data `advisor._rules`; loaded by `advisor.engine.loader`."""
