"""Model-wide structural re-parameterization (one entry point for every task)."""
import torch.nn as nn

from .models.layers.reparam import reparameterize_children


def switch_to_deploy(model: nn.Module) -> nn.Module:
    """Re-parameterize any model in place: classifier, detector, segmentor or bare backbone.

    Walks the module tree; every module with a ``switch_to_deploy()`` method (mmmobile blocks,
    backbones and heads, and foreign re-parameterizable modules such as mmpretrain's RepVGG)
    fuses itself and its descendants. Modules without fusable parts are left untouched.

    Call it on a model in eval mode with trained BatchNorm statistics; the fused model gives the
    same eval-mode outputs.

    Args:
        model (nn.Module): The model to fuse.

    Returns:
        nn.Module: The same model object, fused.
    """
    if callable(getattr(model, 'switch_to_deploy', None)):
        model.switch_to_deploy()
    else:
        reparameterize_children(model)
    return model
