"""What users run (TF-free): ``predict`` on photos, folders and videos, the live ``demo`` and
several streams, the background effects and smoothing, the semantic path, and ``serve``."""
