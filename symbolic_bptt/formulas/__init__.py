"""Formulas people write: the LaTeX and SymPy-syntax readers, and `verify` of identities."""
