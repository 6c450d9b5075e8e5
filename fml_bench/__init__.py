"""fml-bench: the empirical claims of Deep Learning with Python (2nd ed.), chapter 5, as
statistically checked assertions over many random seeds."""

__version__ = "0.1.0"
