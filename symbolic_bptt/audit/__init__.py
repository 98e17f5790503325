"""The audit of hand calculations: the mistake catalog, verdicts on claims, the marked report."""
