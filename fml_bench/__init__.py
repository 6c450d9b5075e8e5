"""fml-bench: the empirical claims of Deep Learning with Python (2nd ed.), chapter 5, as
statistically checked assertions over many random seeds."""

from fml_bench.tf_allocator import prefer_bfc_allocator

__version__ = "0.1.0"

prefer_bfc_allocator()  # before TensorFlow's first operation (see tf_allocator.py)
