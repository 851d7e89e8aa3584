"""Identities across video frames: ByteTrack, its output files and its measures (TF-free)."""

from .bytetrack import Track, Tracker, TrackerConfig, tracker_for

__all__ = ["Track", "Tracker", "TrackerConfig", "tracker_for"]
