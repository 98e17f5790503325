"""Inputs: reading files safely, and the problem and claims files validated into frozen data."""
