"""Performance tools: whole-step throughput (benchmark), convolution kernels (conv_benchmark), where a
step's time goes (profile_step) and biglogit against the PyTorch reference (compare_reference).
Each prints what it measured; docs/performance.md holds the figures."""
