"""Training: the loss of each model family, the trainer loop, torchrun scale-out."""
