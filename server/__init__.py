"""Hearth package."""
