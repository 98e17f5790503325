"""Exams: the spec, seeded draws, keys, multiple-choice distractors, and the written folder."""
