"""The benchmark cases: training, generation, data preparation, memory bandwidth."""
