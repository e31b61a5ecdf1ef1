"""Tests mirroring the source folder of the same name."""
