"""Image sources, the logits dataset (TFDS, array_record), the Grain input pipeline."""
