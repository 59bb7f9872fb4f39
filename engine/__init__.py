"""The PyTorch side of wlbridge. It knows nothing of Wolfram syntax (DESIGN.md rule 2)."""
