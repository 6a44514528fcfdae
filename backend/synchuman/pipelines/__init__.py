"""The method's steps, readable: stage 1, stage 2, samplers."""
