"""staffplan: staff allocation and placement optimiser for commune-level units."""

__version__ = "0.1.0"
