"""Training: the objectives the model families name, the trainer loop and its pieces (config,
schedule, batches, validation, saving, logs), torchrun scale-out."""
