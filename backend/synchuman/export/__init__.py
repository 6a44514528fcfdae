"""Writing results: GLB files with PBR materials."""
