"""Runnable programs: the walkthrough's, in order (`python -m tinygrad_nm.examples.walkthrough`)."""
