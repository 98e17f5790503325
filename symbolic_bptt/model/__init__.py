"""The model: activations, losses, and cells as lists of equations (shipped ones in cells/)."""

from .activations import ACTIVATIONS, Activation
from .losses import LOSSES, Loss, loss_gradient, model_loss, scaled

__all__ = ["ACTIVATIONS", "LOSSES", "Activation", "Loss", "loss_gradient", "model_loss",
           "scaled"]
