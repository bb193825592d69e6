"""Layer 1, the data: instances, the contract table, findings, exact objectives, strategies,
options.

Imports nothing from the other layers.
"""
