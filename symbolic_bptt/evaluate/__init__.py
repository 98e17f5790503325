"""Evaluation of the tape: exact, float, rounded and 40-digit arithmetic, intervals, solved values."""
