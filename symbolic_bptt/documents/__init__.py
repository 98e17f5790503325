"""Documents: the LaTeX printer, document data for the templates, and rendering to .tex and PDF."""
