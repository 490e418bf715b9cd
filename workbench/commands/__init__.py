"""One module per command-line command; each imports torch/transformers only when it runs."""
