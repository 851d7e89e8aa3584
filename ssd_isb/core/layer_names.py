"""What the TF Object Detection API layer names of the detector mean (TF-free).

The detector keeps the TF OD API's names so pretrained weights map one to one (see
:mod:`ssd_isb.model.mobilenet`). Which part of the model a layer belongs to follows from its
name alone; the importer, the freezing rules of training and ``ssd-isb info`` all ask here.
"""

from __future__ import annotations

BACKBONE = "MobileNet-v1 backbone"
EXTRA_LAYERS = "SSD extra feature layers"
BOX_PREDICTORS = "SSD box predictors"
OTHER = "other"

# The maps the branches crop (stride 4 for FCN-4, 8, 16, 32) and where the extra SSD layers
# start.
STRIDE8, STRIDE16, STRIDE32 = "Conv2d_5_pointwise", "Conv2d_11_pointwise", "Conv2d_13_pointwise"
STRIDE4 = "Conv2d_3_pointwise"
_EXTRA_PREFIX = STRIDE32 + "_"  # Conv2d_13_pointwise_1_Conv2d_2_1x1_256, ...


def component(layer_name: str) -> str:
    """The part of the detector a layer belongs to (one of the constants above)."""
    if is_box_predictor(layer_name):
        return BOX_PREDICTORS
    if layer_name.startswith(_EXTRA_PREFIX):
        return EXTRA_LAYERS
    if layer_name.startswith("Conv2d_"):
        return BACKBONE
    return OTHER


def is_backbone(layer_name: str) -> bool:
    """MobileNet-v1's own layers (Conv2d_0 .. Conv2d_13_pointwise and their batch norms)."""
    return component(layer_name) == BACKBONE


def backbone_block(layer_name: str) -> int:
    """The MobileNet-v1 block number N of a backbone layer ``Conv2d_N...``; -1 for any other
    layer (the extra SSD layers, which also start with ``Conv2d_13_pointwise_``, included)."""
    if not is_backbone(layer_name):
        return -1
    digits = layer_name[len("Conv2d_"):].split("_", 1)[0]
    return int(digits) if digits.isdigit() else -1


def is_box_predictor(layer_name: str) -> bool:
    """The 1x1 box-encoding and class predictors (conv with bias, no batch norm)."""
    return layer_name.startswith("BoxPredictor_")
