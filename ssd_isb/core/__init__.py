"""The method's rules, with no framework (numpy; the graph passes ``keras.ops``): SSD anchors
and the box coder, the encompassing window, the branch variants and their bucketing, window-shape
statistics, the two-stage model's names, TF OD API layer names and the model sidecar."""
